// TODO(phase 2): build tags once the assembly lands.

package native

// haveSIMD is false: this build has no assembly kernels.
const haveSIMD = false
