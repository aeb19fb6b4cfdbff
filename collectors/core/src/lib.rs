//! What every collector shares: syncs, epochs, publishing and sync markers
