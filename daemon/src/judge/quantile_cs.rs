//! STUB — owned by the sequential-judge helper.
