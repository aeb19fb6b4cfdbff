//! The only graph writer: batched MERGEs and epoch cleanup, to Bolt or an embedded store
