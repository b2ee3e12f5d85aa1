//! msghub: an embeddable notification hub.
