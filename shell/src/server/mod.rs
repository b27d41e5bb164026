//! The data plane: listeners, connection tasks, routing, and the server's shared state.

pub mod backbone;
pub mod client;
pub mod control;
pub mod leaf;
pub mod outbound;
pub mod presence;
pub mod route;
pub mod run;
pub mod settings;
pub mod state;
