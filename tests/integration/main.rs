mod netns;
mod scan_core;
