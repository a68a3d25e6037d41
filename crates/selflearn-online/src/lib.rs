//! Online rewriting: at request time, retrieve successful requests that look like this one and
//! rewrite to the best of them when a ranker is confident, with a global layer (requests that
//! worked for several people) and a personal layer (what worked for this person).
//!
//! - [`features`] and [`encoder`]: the retrieval encoder; [`train`] trains it contrastively
//!   from reformulation pairs ([`pairs`]) mined from the logs, after [`distill`] has taught it
//!   the similarities of a pretrained sentence encoder ([`teacher`], MiniLM) when one is given.
//! - [`phonetic`]: phone-level similarity from a pronunciation lexicon.
//! - [`index`]: the global and personal indices of requests that worked.
//! - [`ranker`]: the features and the logistic ranker trained from the logs.
//! - [`online`]: learning the layers and answering rewrite requests, with the guard;
//!   [`cache`] remembers a model's answers for repeated requests.
//! - [`template`]: candidates made by filling a successful request's words around a slot
//!   with another known value that sounds like what was heard.
//! - [`fuzzy`]: the peer baseline, character similarity to a known successful request.

#![warn(missing_docs)]

mod bert;
pub mod cache;
pub mod distill;
pub mod encoder;
pub mod error;
pub mod features;
mod fit;
pub mod fuzzy;
pub mod index;
pub mod ivf;
pub mod online;
pub mod pairs;
pub mod phonetic;
pub mod ranker;
pub mod teacher;
pub mod template;
pub mod train;

pub use cache::CachedModel;
pub use distill::{DistillConfig, distill};
pub use encoder::{DIM, Encoder};
pub use error::{OnlineError, Result};
pub use online::{
    AnswerKey, GLOBAL, Layers, OnlineArtifact, OnlineConfig, OnlineLearner, OnlineModel, PERSONAL,
    Ranked,
};
pub use pairs::{FormStats, Pair, reformulation_pairs};
pub use phonetic::Lexicon;
pub use teacher::Teacher;
pub use train::{
    HeldApartReport, Teaching, TeachingReport, TrainConfig, held_apart, recall, recall_by, train,
    train_held_apart,
};
