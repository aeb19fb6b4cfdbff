//! Flags whose meaning depends on the program: `-p` is a password to
//! `mysql` and a port to `ssh`, `-u user:pass` is a credential to `curl`
//! only. Each entry follows the program's own documentation of how it
//! takes a credential on its command line.

/// Which part of a value is the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// All of it.
    Whole,
    /// After the first `:` (`user:pass`); without one it is a user name.
    AfterColon,
    /// After the first `%` (Samba's `user%pass`).
    AfterPercent,
    /// After the first `,` (lftp's `user,pass`).
    AfterComma,
    /// Between `user/` and `@db` (Oracle's `user/pass@db`).
    AfterSlash,
    /// After the first `=` (kubectl's `--from-literal=key=value`).
    AfterEquals,
}

/// A flag that takes a secret, as `-p VALUE`, `-pVALUE` (short flags of
/// getopt-style parsers), `--flag VALUE` or `--flag=VALUE` (long ones).
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub shape: Shape,
    /// Whether a value may be glued on (`-pSECRET`); openssl's own parser
    /// takes none, so there `-keyout` is not `-k eyout`.
    pub glued: bool,
}

/// Arguments that are secrets by position.
#[derive(Debug, Clone, Copy)]
pub enum Positional {
    /// After the word `word` (case-insensitive; empty: the program's own
    /// name), skip `skip` arguments, then redact `count` of them (0: all
    /// the rest). Flags and `key=value` arguments are not counted.
    After {
        word: &'static str,
        skip: usize,
        count: usize,
    },
    /// The argument after any secret-looking bare word (`aws configure
    /// set aws_secret_access_key X`, `nmcli … password X`).
    AfterSecretWord,
    /// Every `user/pass@db` argument.
    UserSlashPass,
}

#[derive(Debug)]
pub struct Program {
    pub names: &'static [&'static str],
    /// A subcommand the flags only mean a secret after (`docker login -p`,
    /// where `docker run -p` publishes a port).
    pub after: Option<&'static str>,
    pub flags: &'static [Flag],
    pub positional: &'static [Positional],
}

const fn f(name: &'static str, shape: Shape) -> Flag {
    Flag {
        name,
        shape,
        glued: true,
    }
}

/// A flag whose value is always the next argument.
const fn separate(name: &'static str, shape: Shape) -> Flag {
    Flag {
        name,
        shape,
        glued: false,
    }
}

use Shape::*;

const NONE: &[Positional] = &[];

#[rustfmt::skip]
pub static PROGRAMS: &[Program] = &[
    // mysql(1): -p[password], glued; a separate word would be the database,
    // but a user who typed one there meant a password.
    Program {
        names: &[
            "mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mysqlslap", "mysqlpump", "mysqlbinlog", "mysqlsh", "mariadb",
            "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-check",
        ],
        after: None,
        flags: &[f("-p", Whole)],
        positional: NONE,
    },
    Program { names: &["sshpass"], after: None, flags: &[f("-p", Whole)], positional: NONE },
    Program {
        names: &["mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "mongostat", "mongotop", "mongofiles"],
        after: None,
        flags: &[f("-p", Whole)],
        positional: NONE,
    },
    // redis-cli: -a <password>, or the AUTH command with its arguments.
    Program {
        names: &["redis-cli", "redis-benchmark", "valkey-cli", "keydb-cli"],
        after: None,
        flags: &[f("-a", Whole)],
        positional: &[Positional::After { word: "auth", skip: 0, count: 0 }],
    },
    Program { names: &["cqlsh", "cypher-shell", "rabbitmqadmin", "twine"], after: None, flags: &[f("-p", Whole)], positional: NONE },
    Program {
        names: &["rabbitmqctl"],
        after: None,
        flags: &[],
        positional: &[
            Positional::After { word: "add_user", skip: 1, count: 1 },
            Positional::After { word: "change_password", skip: 1, count: 1 },
            Positional::After { word: "authenticate_user", skip: 1, count: 1 },
        ],
    },
    // curl(1): -u user:password, -U for the proxy, -E cert[:password].
    Program {
        names: &["curl"],
        after: None,
        flags: &[f("-u", AfterColon), f("--user", AfterColon), f("-U", AfterColon), f("--proxy-user", AfterColon), f("-E", AfterColon), f("--cert", AfterColon)],
        positional: NONE,
    },
    // HTTPie and xh: -a user:password.
    Program { names: &["http", "https", "xh"], after: None, flags: &[f("-a", AfterColon), f("--auth", AfterColon)], positional: NONE },
    Program { names: &["etcdctl"], after: None, flags: &[f("--user", AfterColon)], positional: NONE },
    Program { names: &["skopeo"], after: None, flags: &[f("--creds", AfterColon), f("--src-creds", AfterColon), f("--dest-creds", AfterColon)], positional: NONE },
    // sqlcmd, bcp: -P password (lowercase -p prints statistics).
    Program { names: &["sqlcmd", "bcp", "osql", "p4", "ipmitool", "zip", "unzip", "mosquitto_pub", "mosquitto_sub", "mosquitto_rr"], after: None, flags: &[f("-P", Whole)], positional: NONE },
    Program {
        names: &["ldapsearch", "ldapmodify", "ldapadd", "ldapdelete", "ldapwhoami", "ldapcompare", "ldapmodrdn", "ldapexop"],
        after: None,
        flags: &[f("-w", Whole)],
        positional: NONE,
    },
    // ldappasswd(1): -a oldPasswd, -s newPasswd (to ldapsearch, -a and -s
    // are the alias and search scopes).
    Program { names: &["ldappasswd"], after: None, flags: &[f("-w", Whole), f("-a", Whole), f("-s", Whole)], positional: NONE },
    // smbclient(1): -U user%password.
    Program { names: &["smbclient", "rpcclient", "smbcacls", "smbget", "smbmap"], after: None, flags: &[f("-U", AfterPercent), f("--user", AfterPercent)], positional: NONE },
    Program { names: &["openssl"], after: None, flags: &[separate("-k", Whole)], positional: NONE },
    // 7-Zip and RAR: -p{password}, glued.
    Program { names: &["7z", "7za", "7zz", "7zr", "rar", "unrar"], after: None, flags: &[f("-p", Whole)], positional: NONE },
    Program {
        names: &["docker", "podman", "nerdctl", "buildah", "helm", "oras", "crane", "regctl", "az"],
        after: Some("login"),
        flags: &[f("-p", Whole)],
        positional: NONE,
    },
    // ssh-keygen(1): -N new_passphrase, -P old_passphrase.
    Program { names: &["ssh-keygen"], after: None, flags: &[f("-N", Whole), f("-P", Whole)], positional: NONE },
    // Net-SNMP: -c community, -A auth and -X privacy pass phrases.
    Program {
        names: &["snmpwalk", "snmpget", "snmpset", "snmpbulkwalk", "snmpbulkget", "snmpgetnext", "snmptrap", "snmptable"],
        after: None,
        flags: &[f("-c", Whole), f("-A", Whole), f("-X", Whole)],
        positional: NONE,
    },
    Program { names: &["influx", "doctl"], after: None, flags: &[f("-t", Whole)], positional: NONE },
    Program { names: &["lftp"], after: None, flags: &[f("-u", AfterComma)], positional: NONE },
    Program { names: &["xfreerdp", "wlfreerdp", "sdl-freerdp"], after: None, flags: &[f("/p:", Whole)], positional: NONE },
    Program {
        names: &["sqlplus", "rman", "expdp", "impdp", "exp", "imp", "sqlldr", "dgmgrl"],
        after: None,
        flags: &[],
        positional: &[Positional::UserSlashPass],
    },
    Program { names: &["isql"], after: None, flags: &[], positional: &[Positional::After { word: "", skip: 2, count: 1 }] },
    Program { names: &["aws"], after: Some("configure"), flags: &[], positional: &[Positional::AfterSecretWord] },
    Program { names: &["nmcli"], after: None, flags: &[], positional: &[Positional::AfterSecretWord] },
    Program { names: &["vault"], after: None, flags: &[], positional: &[Positional::After { word: "login", skip: 0, count: 1 }] },
    // MinIO's `mc alias set NAME URL ACCESS_KEY SECRET_KEY`.
    Program { names: &["mc"], after: None, flags: &[], positional: &[Positional::After { word: "set", skip: 2, count: 2 }] },
    Program { names: &["kubectl", "oc"], after: Some("secret"), flags: &[f("--from-literal", AfterEquals)], positional: NONE },
];

/// The program an argument names, by its file name (`/usr/bin/mysql`).
pub fn lookup(arg: &str) -> Option<&'static Program> {
    if arg.starts_with('-') || arg.contains('=') {
        return None;
    }
    let base = arg.rsplit('/').next().unwrap_or(arg);
    PROGRAMS.iter().find(|p| p.names.contains(&base))
}

impl Flag {
    /// Whether `arg` is this flag: `Some(None)` when its value is the next
    /// argument, `Some(Some(value))` when the value is glued on.
    pub fn matches<'a>(&self, arg: &'a str) -> Option<Option<&'a str>> {
        if arg == self.name {
            return Some(None);
        }
        let rest = arg.strip_prefix(self.name)?;
        if self.name.starts_with("--") {
            return rest.strip_prefix('=').map(Some);
        }
        self.glued.then_some(Some(rest))
    }
}

/// `value` with its secret part replaced by `redacted`; `None` when, by
/// its shape, it holds no secret (`curl -u user` prompts for one).
pub fn redact_shaped(value: &str, shape: Shape, redacted: &str) -> Option<String> {
    let after = |sep: char| {
        value
            .split_once(sep)
            .map(|(keep, _)| format!("{keep}{sep}{redacted}"))
    };
    match shape {
        Whole => Some(redacted.to_owned()),
        AfterColon => after(':'),
        AfterPercent => after('%'),
        AfterComma => after(','),
        AfterEquals => after('='),
        AfterSlash => {
            let (user, rest) = value.split_once('/')?;
            if user.is_empty() || user.contains('@') {
                return None;
            }
            let db = rest.rfind('@').map_or("", |i| &rest[i..]);
            Some(format!("{user}/{redacted}{db}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_by_file_name_and_flags_by_shape() {
        assert_eq!(lookup("/usr/bin/mysql").map(|p| p.names[0]), Some("mysql"));
        assert!(lookup("ssh").is_none());
        let p = f("-p", Whole);
        assert_eq!(p.matches("-p"), Some(None));
        assert_eq!(p.matches("-psecret"), Some(Some("secret")));
        assert_eq!(
            f("--user", AfterColon).matches("--user=a:b"),
            Some(Some("a:b"))
        );
        assert_eq!(f("--user", AfterColon).matches("--username"), None);
        assert_eq!(separate("-k", Whole).matches("-keyout"), None);
    }

    #[test]
    fn shapes_keep_the_part_that_is_not_secret() {
        assert_eq!(
            redact_shaped("bob:pw", AfterColon, "X").as_deref(),
            Some("bob:X")
        );
        assert_eq!(redact_shaped("bob", AfterColon, "X"), None);
        assert_eq!(
            redact_shaped("scott/tiger@orcl", AfterSlash, "X").as_deref(),
            Some("scott/X@orcl")
        );
        assert_eq!(redact_shaped("/", AfterSlash, "X"), None);
        assert_eq!(
            redact_shaped("password=pw", AfterEquals, "X").as_deref(),
            Some("password=X")
        );
    }
}
