//! The same promise on the schema-resolution path: a reader that has
//! registered a newer writer's schema decodes whatever claims to be written
//! with it without panicking or exhausting memory.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = infragraph_fuzz::with_newer_host().decode(data);
});
