//! Host collector: processes, sockets and connections from /proc
