//! Deduplicates, merges and resolves observations into graph changes
