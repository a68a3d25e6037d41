//! One arm living every day of one world: the nightly loop. Each arm but control learns each
//! night from its own log, with the engine's learners, and answers the next day with the
//! engine's layered rewriter, the composition `serve` runs.

use std::sync::{Arc, Mutex};

use selflearn_engine::{Layered, Learner, OnlineLayersLearner, PrecomputedLearner, by_user};
use selflearn_miner::{MinerConfig, RewriteTable};
use selflearn_online::{CachedModel, Encoder, Layers, Lexicon, OnlineConfig, OnlineModel};
use selflearn_signals::SignalConfig;
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};
use selflearn_world::sim::{Collected, World};

use crate::arms::Arm;
use crate::funnel::Consulted;
use crate::stats::ArmRun;

/// What the online arms need: the encoder trained on the training seed, and the settings.
#[derive(Debug, Clone)]
pub struct OnlineSetup {
    /// The encoder every night's indices are built with.
    pub encoder: Encoder,
    /// The lexicon of the rankers' phonetic similarity.
    pub lexicon: Arc<Lexicon>,
    /// The layers' settings.
    pub config: OnlineConfig,
    /// Bytes of answers the online layers remember, as `serve` is configured.
    pub answer_cache_bytes: u64,
}

/// Character similarity above which the fuzzy baseline rewrites.
pub const FUZZY_THRESHOLD: f64 = 0.8;

impl ArmRun {
    /// The counts of one arm's lived days, from the truth.
    pub fn of(out: &Collected) -> Self {
        let mut run = ArmRun::default();
        for truth in &out.truth {
            run.turns += 1;
            run.defects += u64::from(truth.defect);
            if truth.rewritten {
                run.rewritten += 1;
                match truth.original_defect {
                    Some(true) if !truth.defect => run.wins += 1,
                    Some(false) if truth.defect => run.losses += 1,
                    _ => {}
                }
            }
        }
        run
    }
}

/// Records what the online layers considered for each request they were asked about, then
/// answers as the layers it wraps.
#[derive(Debug)]
struct Traced {
    layered: Layered,
    online: Arc<CachedModel>,
    trace: Arc<Mutex<Vec<Consulted>>>,
}

impl Rewriter for Traced {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        let answer = self.layered.rewrite(request);
        if answer.layer.as_deref() == Some(selflearn_miner::LAYER) {
            return answer; // the online layers were not asked
        }
        let (model, layers) = (self.online.model(), self.online.layers());
        let ranked = model.ranked(&model.answer_key(request, layers));
        let (global, personal) = model.rankers();
        self.trace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Consulted {
                user_id: request.user_id.clone(),
                timestamp_ms: request.timestamp_ms.unwrap_or_default(),
                templates: ranked
                    .iter()
                    .flatten()
                    .filter(|c| c.template.is_some())
                    .count(),
                ranked: ranked.map(|r| {
                    r.iter()
                        .map(|c| (c.candidate.text.clone(), c.score, c.clears_floor))
                        .collect()
                }),
                threshold: match layers {
                    Layers::Global => global.threshold,
                    Layers::GlobalAndPersonal => personal.threshold,
                },
            });
        answer
    }
}

/// What one arm learned by a night, as the next day's rewriter.
#[derive(Debug, Default)]
struct Night {
    table: Option<RewriteTable>,
    model: Option<OnlineModel>,
    fuzzy: Option<selflearn_online::fuzzy::FuzzyRewriter>,
}

/// Lives every day of `world` in `arm`; the learners are incremental, as a nightly job runs
/// them: they keep what they saw and observe only the day just lived (a night separates the
/// days, so no session spans two), then finish into the next day's layers. With `trace`,
/// records what the online layers considered for each request they were asked about.
pub fn live(
    mut world: World,
    arm: Arm,
    seed: u64,
    miner: MinerConfig,
    online: Option<&OnlineSetup>,
    trace: Option<Arc<Mutex<Vec<Consulted>>>>,
) -> Collected {
    let signals = SignalConfig::default();
    let mut out = Collected::default();
    let mut precomputed = PrecomputedLearner::new(miner);
    let mut learner =
        online.map(|s| OnlineLayersLearner::new(s.encoder.clone(), s.lexicon.clone(), s.config));
    let layers = match arm {
        Arm::Personal => Layers::GlobalAndPersonal,
        _ => Layers::Global,
    };
    let mut night = Night::default();
    for day in 0..world.days() {
        let answer_cache_bytes = online.map_or(0, |s| s.answer_cache_bytes);
        let rewriter: Option<Box<dyn Rewriter>> = match arm {
            Arm::Control => None,
            Arm::Fuzzy => night.fuzzy.take().map(|f| Box::new(f) as Box<dyn Rewriter>),
            _ => {
                let online = night
                    .model
                    .take()
                    .map(|m| Arc::new(CachedModel::new(m, layers, answer_cache_bytes)));
                let layered = Layered::serving(night.table.take(), online.clone());
                Some(match (&trace, online) {
                    (Some(trace), Some(online)) => Box::new(Traced {
                        layered,
                        online,
                        trace: trace.clone(),
                    }),
                    _ => Box::new(layered),
                })
            }
        };
        let seen = out.events.len();
        world
            .run_day(day, &mut out, rewriter.as_deref())
            .expect("an in-memory world run cannot fail");
        if arm == Arm::Control {
            continue;
        }
        for user in by_user(&out.events[seen..], &signals) {
            if arm != Arm::Fuzzy {
                precomputed.observe(&user);
            }
            if let (true, Some(learner)) = (arm.online(), learner.as_mut()) {
                learner.observe(&user);
            }
        }
        let version = format!("{seed}-night-{day}");
        if arm != Arm::Fuzzy {
            night.table = Some(precomputed.finish(&version).expect("mining cannot fail"));
        }
        if let (true, Some(learner)) = (arm.online(), learner.as_ref()) {
            if arm == Arm::Fuzzy {
                night.fuzzy = Some(
                    learner
                        .learner
                        .fuzzy_baseline(learner.config.min_users, FUZZY_THRESHOLD),
                );
            } else {
                night.model = Some(
                    learner
                        .finish(&version)
                        .expect("training the rankers on CPU tensors cannot fail"),
                );
            }
        }
    }
    out
}
