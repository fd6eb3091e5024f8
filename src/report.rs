//! Writing results: CSV, JSON, plots; always atomically.
