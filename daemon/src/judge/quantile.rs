//! STUB — owned by the statistics-core helper.
