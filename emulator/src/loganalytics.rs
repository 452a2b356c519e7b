//! STUB — owned by the Log Analytics/KQL helper. `POST /v1/workspaces/{id}/query`.
