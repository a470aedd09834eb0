//! A whole SCIM request through the real gateway app against a fake core (see `gateway_fuzz`):
//! no panic, SCIM errors in RFC 7644 §3.12 form, 5xx only when the core failed, and every
//! promise to the core kept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: gateway_fuzz::start(), |input: gateway_fuzz::Input<'_>| {
    gateway_fuzz::run(&input);
});
