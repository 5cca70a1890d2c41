//! Pathname expansion in a temporary directory.

use super::{Mock, strs};

/// A directory with: a.txt b.txt c.log .hidden.txt sub/x.txt sub/y.log
/// other/x.txt 'sp ace.txt' '*.txt' (a file named star) and `Zed`.
fn tree() -> (tempfile::TempDir, Mock) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in [
        "a.txt",
        "b.txt",
        "c.log",
        ".hidden.txt",
        "sp ace.txt",
        "*.txt",
        "Zed",
        "[ab]",
    ] {
        std::fs::write(root.join(f), "").unwrap();
    }
    for d in ["sub", "other", ".dotdir"] {
        std::fs::create_dir(root.join(d)).unwrap();
        std::fs::write(root.join(d).join("x.txt"), "").unwrap();
    }
    std::fs::write(root.join("sub/y.log"), "").unwrap();
    let mut m = Mock::new();
    m.set("d", root.to_str().unwrap());
    (dir, m)
}

/// The fields of `word` with the directory prefix cut off.
fn glob(m: &mut Mock, word: &str) -> Vec<String> {
    let prefix = format!("{}/", m.vars.get("d").unwrap());
    m.fields(&[&format!("$d/{word}")])
        .into_iter()
        .map(|f| f.strip_prefix(&prefix).map_or(f.clone(), str::to_string))
        .collect()
}

#[test]
fn wildcards_sorted_in_byte_order() {
    let (_dir, mut m) = tree();
    assert_eq!(
        glob(&mut m, "*.txt"),
        strs(&["*.txt", "a.txt", "b.txt", "sp ace.txt"])
    );
    assert_eq!(glob(&mut m, "?.txt"), strs(&["*.txt", "a.txt", "b.txt"]));
    assert_eq!(glob(&mut m, "[ab].txt"), strs(&["a.txt", "b.txt"]));
    assert_eq!(glob(&mut m, "[!ab].*"), strs(&["*.txt", "c.log"]));
    assert_eq!(glob(&mut m, "[[:upper:]]*"), strs(&["Zed"]));
    assert_eq!(
        glob(&mut m, "*"),
        strs(&[
            "*.txt",
            "Zed",
            "[ab]",
            "a.txt",
            "b.txt",
            "c.log",
            "other",
            "sp ace.txt",
            "sub"
        ])
    );
}

#[test]
fn hidden_files_need_a_dot() {
    let (_dir, mut m) = tree();
    assert_eq!(glob(&mut m, ".*"), strs(&[".dotdir", ".hidden.txt"]));
    assert_eq!(glob(&mut m, ".h*"), strs(&[".hidden.txt"]));
    assert_eq!(glob(&mut m, "*/x.txt"), strs(&["other/x.txt", "sub/x.txt"]));
    assert_eq!(glob(&mut m, ".*/x.txt"), strs(&[".dotdir/x.txt"]));
}

#[test]
fn directories_and_paths() {
    let (_dir, mut m) = tree();
    assert_eq!(glob(&mut m, "*/"), strs(&["other/", "sub/"]));
    assert_eq!(glob(&mut m, "s*/*.log"), strs(&["sub/y.log"]));
    assert_eq!(
        glob(&mut m, "*/*"),
        strs(&["other/x.txt", "sub/x.txt", "sub/y.log"])
    );
    assert_eq!(
        glob(&mut m, "sub/../s*"),
        strs(&["sub/../sp ace.txt", "sub/../sub"])
    );
    assert_eq!(glob(&mut m, "nodir/*"), strs(&["nodir/*"]));
}

#[test]
fn quoted_glob_characters_are_literal() {
    let (_dir, mut m) = tree();
    assert_eq!(glob(&mut m, "'*'.txt"), strs(&["*.txt"]));
    let quoted_dir: Vec<String> = m.fields(&["\"$d\"/[ab].*", "\"$d/\"'sub'/*.log"]);
    let d = m.vars.get("d").unwrap().to_string();
    assert_eq!(
        quoted_dir,
        vec![
            format!("{d}/a.txt"),
            format!("{d}/b.txt"),
            format!("{d}/sub/y.log")
        ]
    );
    assert_eq!(glob(&mut m, r"\*.txt"), strs(&["*.txt"]));
    assert_eq!(glob(&mut m, "\"[ab]\""), strs(&["[ab]"]));
    assert_eq!(glob(&mut m, "'sp ace'*"), strs(&["sp ace.txt"]));
    // An unquoted expansion's glob characters are active, and its result
    // is split before globbing.
    m.set("p", "*.log c*");
    assert_eq!(glob(&mut m, "$p"), strs(&["c.log", "c*"]));
}

#[test]
fn no_match_nullglob_and_noglob() {
    let (_dir, mut m) = tree();
    assert_eq!(glob(&mut m, "*.none"), strs(&["*.none"]));
    assert_eq!(glob(&mut m, "'x'*.none"), strs(&["x*.none"]));
    m.nullglob = true;
    assert_eq!(glob(&mut m, "*.none"), Vec::<String>::new());
    m.nullglob = false;
    m.noglob = true;
    assert_eq!(glob(&mut m, "*.txt"), strs(&["*.txt"]));
}

#[test]
fn extglob_patterns() {
    let (_dir, mut m) = tree();
    m.extglob = true;
    assert_eq!(glob(&mut m, "@(a|c).*"), strs(&["a.txt", "c.log"]));
    assert_eq!(glob(&mut m, "+([ab]).txt"), strs(&["a.txt", "b.txt"]));
}

#[test]
fn globstar_matches_any_depth() {
    let (dir, mut m) = tree();
    std::fs::create_dir_all(dir.path().join("sub/deep")).unwrap();
    std::fs::write(dir.path().join("sub/deep/z.txt"), "").unwrap();
    // Without globstar `**` is `*`.
    assert_eq!(
        glob(&mut m, "**/x.txt"),
        strs(&["other/x.txt", "sub/x.txt"])
    );
    m.globstar = true;
    assert_eq!(
        glob(&mut m, "**/*.txt"),
        strs(&[
            "*.txt",
            "a.txt",
            "b.txt",
            "other/x.txt",
            "sp ace.txt",
            "sub/deep/z.txt",
            "sub/x.txt"
        ])
    );
    // `DIR/**/` is DIR itself (cut to "" here) and the directories below.
    assert_eq!(
        glob(&mut m, "**/"),
        strs(&["", "other/", "sub/", "sub/deep/"])
    );
    assert_eq!(
        glob(&mut m, "sub/**"),
        strs(&[
            "sub/",
            "sub/deep",
            "sub/deep/z.txt",
            "sub/x.txt",
            "sub/y.log"
        ])
    );
    assert_eq!(glob(&mut m, "sub/**/z.txt"), strs(&["sub/deep/z.txt"]));
}

#[test]
fn nocaseglob_and_failglob() {
    let (_dir, mut m) = tree();
    assert_eq!(glob(&mut m, "z*"), strs(&["z*"]));
    m.nocaseglob = true;
    assert_eq!(glob(&mut m, "z*"), strs(&["Zed"]));
    assert_eq!(glob(&mut m, "A.*"), strs(&["a.txt"]));
    m.nocaseglob = false;
    m.failglob = true;
    let d = m.vars.get("d").unwrap().to_string();
    let err = super::expand_words(
        &mut m,
        &[brush_parser::ast::Word::from(format!("{d}/none*"))],
    );
    assert_eq!(err.unwrap_err().message, format!("no match: {d}/none*"));
}

#[test]
fn not_groups_and_leading_dots() {
    let (_dir, mut m) = tree();
    m.extglob = true;
    assert_eq!(
        glob(&mut m, "!(*.txt|*.log)"),
        strs(&["Zed", "[ab]", "other", "sub"])
    );
    assert_eq!(glob(&mut m, ".!(hidden*)"), strs(&[".dotdir"]));
    assert_eq!(glob(&mut m, "@(.h*|Z*)"), strs(&[".hidden.txt", "Zed"]));
    assert_eq!(glob(&mut m, "[[]ab]"), strs(&["[ab]"]));
    assert_eq!(glob(&mut m, "*/!(y*)"), strs(&["other/x.txt", "sub/x.txt"]));
    assert_eq!(glob(&mut m, ".*"), strs(&[".dotdir", ".hidden.txt"]));
    // shopt -u globskipdots: `.` and `..` for a pattern starting with `.`.
    m.keepdots = true;
    assert_eq!(
        glob(&mut m, ".*"),
        strs(&[".", "..", ".dotdir", ".hidden.txt"])
    );
    assert_eq!(glob(&mut m, "?"), strs(&["?"]));
    m.dotglob = true;
    assert_eq!(glob(&mut m, "[.]*"), strs(&[".dotdir", ".hidden.txt"]));
    assert_eq!(glob(&mut m, ".?"), strs(&[".."]));
}

#[test]
fn globignore_drops_matches_and_dots() {
    let (_dir, mut m) = tree();
    let d = m.vars.get("d").unwrap().to_string();
    m.set("GLOBIGNORE", &format!("{d}/[ab].txt:{d}/[[:upper:]]*"));
    assert_eq!(
        glob(&mut m, "*"),
        strs(&["*.txt", "[ab]", "c.log", "other", "sp ace.txt", "sub"])
    );
    m.keepdots = true;
    assert_eq!(glob(&mut m, ".*"), strs(&[".dotdir", ".hidden.txt"]));
}
