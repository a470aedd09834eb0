//! Any UTF-8 text through `PatchPath::parse`: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::Filter;
use scim::patch::PatchPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(path) = PatchPath::parse(text) else { return };
    let _ = path.is_members();
    if let Some(filter) = &path.filter {
        // A value filter came through `Filter::parse`, so it prints back to itself (it is short:
        // a path is no longer than its filter plus the attribute around it).
        if let Ok(again) = Filter::parse(&filter.to_string()) {
            assert_eq!(&again, filter);
        }
    }
});
