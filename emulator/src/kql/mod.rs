//! STUB — owned by the Log Analytics/KQL helper. KQL subset: lexer, parser, evaluator.
