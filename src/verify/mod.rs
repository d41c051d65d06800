//! QEMU boot verification. TODO(helper).
