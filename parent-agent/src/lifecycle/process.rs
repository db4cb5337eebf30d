//! The simulation runner: enclave-app as a child process with the simulation flags.
