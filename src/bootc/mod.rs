//! bootc: the bootable-container layout of a tree and the lints that
//! `bootc container lint` runs. (Being written; see issue 6.)
