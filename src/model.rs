//! The whole Mailu configuration as typed TOML: what each file of the config repository may hold,
//! and the rules that hold across files. No IO: callers hand in file contents and get a validated
//! [`Config`] or every problem at once, as [`Diagnostics`].

pub mod diagnostic;
pub mod file_type;
pub mod name;
pub mod path;
pub mod settings;
pub mod toml_file;

pub use diagnostic::{Diagnostic, Diagnostics, Problem};
pub use file_type::FileType;
pub use name::{DomainName, Email, Localpart, NameError, SecretRef, ServiceName};
pub use path::{Entry, PathError, RepoPath};
