//! What every section's checks return: the first problem as `(dotted field, message)`, and
//! the message for a relaxation only the simulation allows. A leaf the sections and
//! [`super::Config::parse`] share, so that no section imports the module that owns it.

/// `(field, message)` of the first thing wrong; [`super::Config::parse`] adds the file name.
pub(super) type Invalid = (String, String);

/// The error for a relaxation only the simulation allows.
pub(super) fn sim_only(field: &str, what: &str) -> Invalid {
    (
        field.into(),
        format!("{what} is allowed only in simulation ([vsock] simulation_dir)"),
    )
}
