//! GitHub collector: organisations, repositories, people, teams and permissions (not built yet).
