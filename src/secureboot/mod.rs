//! Secure Boot keys, Authenticode signing, enrollment files, UKIs. TODO(helper).
