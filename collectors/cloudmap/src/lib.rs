//! AWS Cloud Map collector: namespaces, services, instances and declared dependencies (not built yet).
