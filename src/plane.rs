//! The information plane: I(X;T), I(T;Y), H(T) over layers and epochs.
