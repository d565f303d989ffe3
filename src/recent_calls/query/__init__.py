"""Pure query code: a request in, SQL fragments and response shapes out. No I/O."""
