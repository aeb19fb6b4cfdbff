//! Test programs: small python servers and clients that report when they are
//! ready and are killed when dropped, so a failing test leaves nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A child process killed when dropped.
pub struct Kid {
    pub child: Child,
    out: BufReader<ChildStdout>,
}

impl Kid {
    pub fn spawn(cmd: &mut Command) -> Kid {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn test child (is python3 installed?)");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        Kid { child, out }
    }

    pub fn python(script: &str, args: &[&str]) -> Kid {
        Kid::spawn(Command::new("python3").arg("-c").arg(script).args(args))
    }

    /// The next line the child prints; it prints once it is ready.
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("read child output");
        assert!(!s.is_empty(), "child exited before it was ready");
        s.trim().to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Listens on 127.0.0.1, prints the port, accepts one client, says so.
pub const SERVER: &str = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nprint('accepted',flush=True)\ntime.sleep(600)";
/// Listens on every address, prints the port, accepts one client.
pub const SERVER_ANY: &str = "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nprint('accepted',flush=True)\ntime.sleep(600)";
/// Connects to argv[1]:argv[2], says so.
pub const CLIENT: &str = "import socket,sys,time\nc=socket.create_connection((sys.argv[1],int(sys.argv[2])))\nprint('connected',flush=True)\ntime.sleep(600)";
