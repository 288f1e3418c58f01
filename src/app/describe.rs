//! `exposecheck services` and `exposecheck explain`: the catalogue and the
//! rules table as text for people.
