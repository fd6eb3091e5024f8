//! Reading activations, inputs and labels from files.
