//! QEMU boot verification. TODO(helper).

pub mod guest;
