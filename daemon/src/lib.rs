//! canaryd: automated canary analysis for Azure Machine Learning managed online endpoints.

pub mod judge;
