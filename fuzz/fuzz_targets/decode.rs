//! Whatever the bytes, decoding with our own schemas returns a record or a
//! typed error: it never panics, overflows or aborts.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = infragraph_fuzz::builtin().decode(data);
});
