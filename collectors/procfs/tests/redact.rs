//! The redaction cases, one table.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use infragraph_collector_procfs::Redactor;

#[test]
fn secret_looking_values_are_redacted_and_the_rest_kept() {
    let r = Redactor::new(&[r"internal-[a-z]+-\d+"]).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["mysqld", "--password=hunter2"],
            "mysqld --password=<redacted>",
        ),
        (
            &["app", "--api-key", "k-123", "-v"],
            "app --api-key <redacted> -v",
        ),
        (&["app", "--db-pass", "x"], "app --db-pass <redacted>"),
        (
            &["env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "HOME=/root"],
            "env AWS_SECRET_ACCESS_KEY=<redacted> HOME=/root",
        ),
        (
            &["psql", "postgres://app:pw123@db:5432/x"],
            "psql postgres://app:<redacted>@db:5432/x",
        ),
        (
            &["curl", "https://api.example/x?access_token=zzz&page=2"],
            "curl https://api.example/x?access_token=<redacted>&page=2",
        ),
        (
            &["sh", "-c", "GITHUB_TOKEN=abc ./deploy"],
            "sh -c GITHUB_TOKEN=<redacted> ./deploy",
        ),
        (&["aws", "AKIAIOSFODNN7EXAMPLE"], "aws <redacted>"),
        (
            &["gh", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"],
            "gh <redacted>",
        ),
        (
            &[
                "x",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            ],
            "x <redacted>",
        ),
        (
            &["job", "--ticket=internal-ops-42"],
            "job --ticket=<redacted>",
        ),
        (&["nginx", "-g", "daemon off;"], "nginx -g daemon off;"),
        (
            &["ftp", "--passive", "host.example"],
            "ftp --passive host.example",
        ),
        (
            &["redis-server", "--port", "6379"],
            "redis-server --port 6379",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(r.redact_args(args), *want, "for {args:?}");
    }
}

#[test]
fn a_bad_extra_pattern_is_refused_with_its_text() {
    let err = Redactor::new(&["(unclosed"]).unwrap_err();
    assert!(err.to_string().contains("(unclosed"), "{err}");
}
