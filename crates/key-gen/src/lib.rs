//! The offline key-share ceremony (work in progress).
