//! STUB — owned by the Kayenta helper.
