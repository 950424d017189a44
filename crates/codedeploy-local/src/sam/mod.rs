//! SAM: reading a template ([`template`]), and turning it into a rehearsal: functions built
//! and published, and a deployment plan ([`rehearsal`]).

pub(crate) mod build;
mod checks;
pub(crate) mod deployer;
pub(crate) mod options;
mod publishing;
pub(crate) mod rehearsal;
mod resource_policies;
mod roles;
pub(crate) mod template;
