//! The short help (`-h`): one screen, generated from the clap definitions.
//!
//! `--help` is clap's long help (every flag under its heading, the exit
//! codes). `-h` lists the commands and the flags most runs need, each cut
//! to one line, so that it fits 24 lines of 80 columns.

use clap::Command;

/// The flags `-h` lists (clap ids), in order.
const COMMON: &[&str] = &[
    "ports", "format", "output", "fail_on", "policy", "baseline", "verbose",
];

/// Width the short help is written for.
const WIDTH: usize = 80;

/// The first sentence of `text`, cut at a word to fit `room` columns.
fn one_line(text: &str, room: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let first = line.split_once(". ").map_or(line, |(f, _)| f);
    let first = first.trim_end_matches('.');
    if first.chars().count() <= room {
        return first.to_owned();
    }
    let cut: String = first.chars().take(room.saturating_sub(1)).collect();
    let at = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end_matches([',', ';', ':']))
}

/// `-p, --ports <SPEC>` for an argument.
fn flag_text(a: &clap::Arg) -> String {
    let mut s = match (a.get_short(), a.get_long()) {
        (Some(c), Some(l)) => format!("-{c}, --{l}"),
        (None, Some(l)) => format!("    --{l}"),
        (Some(c), None) => format!("-{c}"),
        (None, None) => a.get_id().to_string(),
    };
    if a.get_action().takes_values() {
        if let Some(v) = a.get_value_names().and_then(|v| v.first()) {
            s.push(' ');
            s.push_str(v);
        }
    }
    s
}

/// Rows of two columns, the second cut to the width.
fn rows(out: &mut Vec<String>, rows: &[(String, String)]) {
    let w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    for (left, right) in rows {
        let room = WIDTH.saturating_sub(w + 2);
        out.push(
            format!("  {left:<w$}{}", one_line(right, room))
                .trim_end()
                .to_owned(),
        );
    }
}

/// The commands, `policy` shown with its one subcommand.
fn command_rows(cmd: &Command) -> Vec<(String, String)> {
    cmd.get_subcommands()
        .map(|sc| {
            let about = sc.get_about().map(|a| a.to_string()).unwrap_or_default();
            match sc.get_subcommands().next() {
                Some(inner) => (
                    format!("{} {}", sc.get_name(), inner.get_name()),
                    inner.get_about().map(|a| a.to_string()).unwrap_or(about),
                ),
                None => (sc.get_name().to_owned(), about),
            }
        })
        .collect()
}

/// The short help of the top-level command `cmd`.
pub fn short(cmd: &Command) -> String {
    let name = cmd.get_name();
    let mut out = Vec::new();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    out.push(one_line(&about, WIDTH));
    out.push(String::new());
    out.push(format!(
        "Usage: {name} [FLAGS] TARGET...   addresses, CIDRs, hostnames (or -iL FILE)"
    ));
    out.push(format!("       {name} COMMAND [ARGS]"));
    out.push(String::new());
    out.push("Commands:".into());
    rows(&mut out, &command_rows(cmd));
    out.push(String::new());
    out.push("Common flags:".into());
    let flags: Vec<(String, String)> = COMMON
        .iter()
        .filter_map(|id| cmd.get_arguments().find(|a| a.get_id() == id))
        .map(|a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            (flag_text(a), help)
        })
        .collect();
    rows(&mut out, &flags);
    out.push(String::new());
    out.push(
        "'--help': every flag by topic and the exit codes; 'COMMAND --help': one command.".into(),
    );
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn short_help_fits_a_screen_and_names_every_command() {
        let cmd = crate::cli::Cli::command();
        let text = short(&cmd);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= 24, "{} lines:\n{text}", lines.len());
        for l in &lines {
            assert!(l.chars().count() <= WIDTH, "too wide: {l:?}");
        }
        for sc in cmd.get_subcommands() {
            assert!(
                text.contains(&format!("  {}", sc.get_name())),
                "{} missing:\n{text}",
                sc.get_name()
            );
        }
        for id in COMMON {
            let a = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no flag {id}"));
            let long = a.get_long().expect("long");
            assert!(text.contains(&format!("--{long}")), "--{long} missing");
        }
    }

    #[test]
    fn sentences_are_cut_at_a_word_not_wrapped() {
        assert_eq!(one_line("alpha beta gamma. Next", 12), "alpha beta…");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
        assert_eq!(one_line("Fits.", 10), "Fits");
    }
}
