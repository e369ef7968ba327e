package envoyrls_test

import "github.com/sluicehq/sluice/internal/storecase"

// stores are the stores every service test runs against: memory, and the
// shared test Redis.
var stores = storecase.All("sluicetest-envoy-")
