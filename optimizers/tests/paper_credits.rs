//! Each optimizer's module docs credit the paper it implements by its authors and where it was
//! published, as the paper's own title page has them: a user who cites the method from our docs
//! must cite the right people.

/// `(module source, strings its docs must contain)`, from each paper's title page.
const CREDITS: &[(&str, &str, &[&str])] = &[
    (
        "grams.rs",
        include_str!("../src/grams.rs"),
        // Yang Cao, Xiaoyu Li, Zhao Song, arXiv:2412.17107.
        &["Yang Cao", "Xiaoyu Li", "Zhao Song", "arXiv:2412.17107"],
    ),
    (
        "amsgrad.rs",
        include_str!("../src/amsgrad.rs"),
        // Sashank J. Reddi, Satyen Kale, Sanjiv Kumar, ICLR 2018.
        &["Reddi", "Kale", "Kumar", "ICLR 2018"],
    ),
    (
        "multi_pass/opt_amsgrad.rs",
        include_str!("../src/multi_pass/opt_amsgrad.rs"),
        // Jun-Kun Wang, Xiaoyun Li, Belhal Karimi, Ping Li, ACML 2021 (arXiv:1903.01435).
        &[
            "Jun-Kun Wang",
            "Xiaoyun Li",
            "Belhal Karimi",
            "Ping Li",
            "ACML 2021",
            "arXiv:1903.01435",
        ],
    ),
];

#[test]
fn module_docs_credit_the_papers_authors() {
    for (file, source, needed) in CREDITS {
        let docs: String = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join(" ");
        for needle in *needed {
            assert!(
                docs.contains(needle),
                "{file}'s module docs do not name '{needle}'"
            );
        }
    }
}
