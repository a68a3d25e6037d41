//! Building a world once: the goals people can pursue (hearable, well-labelled SLURP frames),
//! which are popular and which the assistant's NLU covers, the home's morning lights, and the
//! households with their people and devices, all drawn from the world's seed in one order.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use selflearn_types::DeviceKind;

use super::people::{DeviceSpec, Goal, Household, Person, Routine};
use super::{STOP_INTENT, World};
use crate::asr::{AsrChannel, AsrSource, Hypothesis};
use crate::assistant::ReferenceAssistant;
use crate::catalogue::Catalogue;
use crate::config::WorldConfig;
use crate::dataset::Dataset;
use crate::nlu::corpus::training_examples;
use crate::nlu::{Example, Nlu};

/// How many times each sentence of a covered goal is in the NLU's training data: the
/// requests an assistant is built for weigh more than the general training split.
const COVERED_WEIGHT: usize = 3;

/// What a world is drawn from, built once per world: the recordings, the goals, which are
/// popular and which the NLU covers, and the random state the homes are then drawn with.
pub(super) struct Plan {
    channel: AsrChannel,
    /// The NLU's training split.
    training: Vec<Example>,
    goals: Vec<Goal>,
    popularity: WeightedIndex<f64>,
    covered: Vec<bool>,
    rng: StdRng,
}

impl Plan {
    pub(super) fn new(config: &WorldConfig, data: &Dataset) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let channel = AsrChannel::new(data);
        let training = training_examples(data);
        let goals = goals(data, &channel, &training, config);
        let (popularity, covered) = popularity(&goals, config, &mut rng);
        Self {
            channel,
            training,
            goals,
            popularity,
            covered,
            rng,
        }
    }

    /// The training split plus every sentence of the covered goals, [`COVERED_WEIGHT`] times.
    pub(super) fn nlu_training_examples(&self) -> Vec<Example> {
        let mut examples = self.training.clone();
        for (goal, _) in self.goals.iter().zip(&self.covered).filter(|(_, c)| **c) {
            for (_, text) in goal
                .paraphrases
                .iter()
                .flat_map(|p| std::iter::repeat_n(p, COVERED_WEIGHT))
            {
                examples.push(Example {
                    text: text.clone(),
                    intent: goal.intent.clone(),
                    slots: goal.slots.clone(),
                });
            }
        }
        examples
    }
}

impl World {
    /// The world around its plan and NLU: homes, people, the assistant, background speech.
    pub(super) fn assemble(plan: Plan, config: WorldConfig, data: &Dataset, nlu: Nlu) -> Self {
        let Plan {
            channel,
            goals,
            popularity,
            covered,
            mut rng,
            ..
        } = plan;
        let catalogue = Catalogue::from_data(data);
        let areas: Vec<String> = data
            .home
            .areas
            .iter()
            .map(|a| a.name.to_lowercase())
            .collect();
        let morning_lights = morning_lights(data);
        let households = (0..config.households)
            .map(|h| {
                household(
                    h,
                    &config,
                    &goals,
                    &popularity,
                    &areas,
                    &morning_lights,
                    &mut rng,
                )
            })
            .collect();
        let assistant =
            ReferenceAssistant::new(nlu, areas, catalogue, config.assistant.min_confidence);
        let asked: HashSet<u64> = goals
            .iter()
            .flat_map(|g| g.paraphrases.iter().map(|(id, _)| *id))
            .collect();
        let recording = |r: &crate::dataset::RealAsr| Hypothesis {
            text: crate::asr::recogniser_text(&r.hyp_text_norm),
            confidence: None,
            source: AsrSource::Real {
                session: r.session.clone(),
                mic: r.mic.clone(),
            },
        };
        let mut background: Vec<Hypothesis> = data
            .real_asr
            .iter()
            .filter(|r| !asked.contains(&r.slurp_id))
            .map(recording)
            .collect();
        if background.is_empty() {
            background = data.real_asr.iter().map(recording).collect();
        }
        let stop_goals = goals
            .iter()
            .enumerate()
            .filter(|(_, g)| g.intent == STOP_INTENT && g.slots.is_empty())
            .map(|(i, _)| i)
            .collect();
        Self {
            config,
            goals,
            households,
            channel,
            assistant,
            background,
            stop_goals,
            popularity,
            covered,
            morning_lights,
        }
    }
}

/// Requests people can make: SLURP devel/test frames with a paraphrase people recorded (or,
/// with `synthetic_voices`, one a synthetic voice spoke). A frame whose intent is not a
/// well-formed `scenario_action` label the training split knows is a broken annotation and is
/// left out.
fn goals(
    data: &Dataset,
    channel: &AsrChannel,
    training: &[Example],
    config: &WorldConfig,
) -> Vec<Goal> {
    let labels: HashSet<&str> = training.iter().map(|e| e.intent.as_str()).collect();
    let hearable = |id: u64| {
        if config.requests.synthetic_voices {
            channel.can_hear(id)
        } else {
            channel.has_recording(id)
        }
    };
    let mut by_frame: BTreeMap<&str, Goal> = BTreeMap::new();
    for s in data.slurp.iter().filter(|s| {
        s.split_official != "train"
            && hearable(s.slurp_id)
            && well_formed_label(&s.intent, &s.scenario, &s.action)
            && labels.contains(s.intent.as_str())
    }) {
        let goal = by_frame.entry(s.frame_id.as_str()).or_insert_with(|| Goal {
            frame_id: s.frame_id.clone(),
            intent: s.intent.clone(),
            slots: s
                .slots
                .iter()
                .map(|x| (x.kind.clone(), x.value.clone()))
                .collect(),
            paraphrases: Vec::new(),
        });
        if !goal.paraphrases.iter().any(|(_, t)| t == &s.text) {
            goal.paraphrases.push((s.slurp_id, s.text.clone()));
        }
    }
    by_frame.into_values().collect()
}

/// Whether an intent label is `scenario_action` of its own record: SLURP's broken labels
/// (`music`, `query`, `hue_lightup` for `iot_hue_lightup`) are not.
fn well_formed_label(intent: &str, scenario: &str, action: &str) -> bool {
    !scenario.is_empty()
        && !action.is_empty()
        && intent.len() == scenario.len() + 1 + action.len()
        && intent.starts_with(scenario)
        && intent[scenario.len()..].starts_with('_')
        && intent.ends_with(action)
}

/// Popularity of each goal, and whether the NLU covers it. Short requests are the common ones:
/// goals are ranked by the words of their shortest sentence plus normal noise (drawn by the
/// seed), Zipf weights 1/rank^exponent follow the ranking, and the first `coverage` share of
/// the ranking is covered.
fn popularity(
    goals: &[Goal],
    config: &WorldConfig,
    rng: &mut StdRng,
) -> (WeightedIndex<f64>, Vec<bool>) {
    let noise = config.behaviour.popularity_noise;
    let mut scored: Vec<(f64, usize)> = goals
        .iter()
        .enumerate()
        .map(|(i, goal)| {
            let words = goal
                .paraphrases
                .iter()
                .map(|(_, t)| t.split_whitespace().count())
                .min()
                .unwrap_or_default();
            (words as f64 + noise * standard_normal(rng), i)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut weights = vec![0.0; goals.len()];
    let mut covered = vec![false; goals.len()];
    let covered_count =
        (config.assistant.coverage.clamp(0.0, 1.0) * goals.len() as f64).round() as usize;
    for (r, &(_, goal)) in scored.iter().enumerate() {
        weights[goal] = 1.0 / ((r + 1) as f64).powf(config.behaviour.popularity_exponent);
        covered[goal] = r < covered_count;
    }
    let popularity = WeightedIndex::new(weights).expect("at least one goal, positive weights");
    (popularity, covered)
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Whether the lights of each area (lower-case name) are on in the home fixture.
fn morning_lights(data: &Dataset) -> BTreeMap<String, bool> {
    let area_names: HashMap<&str, String> = data
        .home
        .areas
        .iter()
        .map(|a| (a.id.as_str(), a.name.to_lowercase()))
        .collect();
    let mut lights = BTreeMap::new();
    for entity in &data.home.entities {
        if let (Some(on), Some(area)) = (
            entity.light_on(),
            entity.area.as_deref().and_then(|a| area_names.get(a)),
        ) {
            *lights.entry(area.clone()).or_insert(false) |= on;
        }
    }
    lights
}

/// Distinct values of one slot type among the goals.
fn slot_values<'g>(goals: &'g [Goal], kind: &str) -> Vec<&'g str> {
    let mut values: Vec<&str> = goals
        .iter()
        .flat_map(|g| g.slots.iter())
        .filter(|(k, _)| k == kind)
        .map(|(_, v)| v.as_str())
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Goals that mention one of a person's own entities (their town, their music).
fn personal_goals(goals: &[Goal], entities: &[(&str, &str)]) -> Vec<usize> {
    goals
        .iter()
        .enumerate()
        .filter(|(_, g)| {
            g.slots
                .iter()
                .any(|(k, v)| entities.iter().any(|(kind, value)| k == kind && v == value))
        })
        .map(|(i, _)| i)
        .collect()
}

fn household(
    h: u32,
    config: &WorldConfig,
    goals: &[Goal],
    popularity: &WeightedIndex<f64>,
    areas: &[String],
    lights: &BTreeMap<String, bool>,
    rng: &mut StdRng,
) -> Household {
    let population = &config.population;
    let device_count = rng.random_range(1..=population.max_devices.max(1));
    let devices = (0..device_count)
        .map(|d| {
            let has_screen = rng.random_bool(population.screen_share);
            let kind = if has_screen {
                if rng.random_bool(0.7) {
                    DeviceKind::ScreenSpeaker
                } else {
                    DeviceKind::Tv
                }
            } else if rng.random_bool(0.85) {
                DeviceKind::Speaker
            } else {
                DeviceKind::Phone
            };
            DeviceSpec {
                id: format!("h{h:04}-d{d}"),
                kind,
                has_screen,
                area: areas.choose(rng).cloned().unwrap_or_default(),
                playing: false,
                lights: None,
            }
        })
        .collect::<Vec<_>>();
    let town = slot_values(goals, "place_name")
        .choose(rng)
        .map_or_else(|| "home".to_owned(), |t| (*t).to_owned());
    let artists = slot_values(goals, "artist_name");
    let people_count = rng.random_range(1..=population.max_people.max(1));
    let people = (0..people_count)
        .map(|p| {
            let mut entities = vec![("place_name", town.as_str())];
            if let Some(artist) = artists.choose(rng) {
                entities.push(("artist_name", artist));
            }
            let mut favourites = personal_goals(goals, &entities);
            favourites.shuffle(rng);
            favourites.truncate(3);
            favourites.extend((0..population.favourite_goals).map(|_| popularity.sample(rng)));
            let routine_count = rng.random_range(0..=population.routines);
            let routines = (0..routine_count)
                .filter_map(|_| {
                    Some(Routine {
                        goal: *favourites.choose(rng)?,
                        minute_of_day: rng.random_range(7 * 60..22 * 60),
                    })
                })
                .collect();
            Person {
                user_id: format!("h{h:04}-p{p}"),
                favourites,
                routines,
                home_device: rng.random_range(0..devices.len()),
                location: town.clone(),
            }
        })
        .collect();
    Household {
        people,
        devices,
        lights: lights.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::event::normalised;
    use crate::sim::test_support::{first_requests, shared, small_world, world};

    #[test]
    fn popular_requests_are_asked_by_many_people() {
        let spread = |exponent: f64| {
            let mut config = WorldConfig {
                seed: 5,
                days: 3,
                households: 30,
                ..WorldConfig::default()
            };
            config.behaviour.popularity_exponent = exponent;
            let (out, _) = world(config);
            let mut askers: HashMap<&str, HashSet<&str>> = HashMap::new();
            for (event, truth) in first_requests(&out) {
                askers
                    .entry(truth.spoken_text.as_deref().unwrap())
                    .or_default()
                    .insert(&event.user_id);
            }
            askers.values().map(HashSet::len).max().unwrap()
        };
        let (zipf, uniform) = (spread(1.0), spread(0.0));
        assert!(
            zipf >= 2 * uniform && zipf >= 10,
            "most askers of one sentence: {zipf} with popularity, {uniform} without"
        );
    }

    #[test]
    fn people_ask_about_their_own_town() {
        let (out, _) = small_world(8);
        let own_town = out
            .events
            .iter()
            .zip(&out.truth)
            .filter(|(e, t)| {
                t.gold_slots
                    .iter()
                    .any(|(kind, value)| kind == "place_name" && *value == e.context["location"])
            })
            .count();
        assert!(own_town >= 5, "{own_town} requests about the asker's town");
    }

    #[test]
    fn the_nlu_learns_the_covered_goals_sentences_and_never_the_rest() {
        let (data, nlu) = shared();
        let config = WorldConfig {
            households: 2,
            ..WorldConfig::default()
        };
        let trained: HashSet<String> = World::nlu_training_examples(&config, data)
            .iter()
            .map(|e| normalised(&e.text))
            .collect();
        let world = World::build_with_nlu(config, data, nlu.clone());
        let covered = world.covered_frames();
        let share = covered.len() as f64 / world.goals.len() as f64;
        assert!((0.79..=0.81).contains(&share), "coverage {share}");
        let texts = |covered_side: bool| -> HashSet<String> {
            world
                .goals
                .iter()
                .filter(|g| covered.contains(&g.frame_id) == covered_side)
                .flat_map(|g| g.paraphrases.iter().map(|(_, t)| normalised(t)))
                .collect()
        };
        let (known, tail) = (texts(true), texts(false));
        assert!(known.iter().all(|t| trained.contains(t)));
        let leaked: Vec<&String> = tail
            .iter()
            .filter(|t| trained.contains(*t) && !known.contains(*t))
            .collect();
        assert!(
            leaked.is_empty(),
            "uncovered sentences in training: {leaked:?}"
        );
        // Another seed ranks popularity anew, and covers other goals.
        let other = World::build_with_nlu(
            WorldConfig {
                seed: 8,
                households: 2,
                ..WorldConfig::default()
            },
            data,
            nlu.clone(),
        );
        assert_ne!(other.covered_frames(), covered);
    }

    #[test]
    fn short_requests_are_the_popular_ones_and_every_goal_is_well_labelled_and_recorded() {
        let (data, nlu) = shared();
        let world = World::build_with_nlu(WorldConfig::default(), data, nlu.clone());
        let words = |g: &Goal| {
            g.paraphrases
                .iter()
                .map(|(_, t)| t.split_whitespace().count())
                .min()
                .unwrap() as f64
        };
        let mean_all = world.goals.iter().map(words).sum::<f64>() / world.goals.len() as f64;
        let mut rng = StdRng::seed_from_u64(1);
        let draws = 5000;
        let mean_asked = (0..draws)
            .map(|_| words(&world.goals[world.popularity.sample(&mut rng)]))
            .sum::<f64>()
            / f64::from(draws);
        assert!(
            mean_asked < mean_all - 1.0,
            "asked requests have {mean_asked:.2} words, all {mean_all:.2}"
        );
        let channel = AsrChannel::new(data);
        for goal in &world.goals {
            assert!(goal.intent.contains('_'), "broken label {}", goal.intent);
            assert!(
                goal.paraphrases
                    .iter()
                    .all(|(id, _)| channel.has_recording(*id))
            );
        }
        assert!(!world.goals.iter().any(|g| g.intent == "hue_lightup"));
        // The harder world keeps the sentences only synthetic voices spoke.
        let mut harder = WorldConfig::default();
        harder.requests.synthetic_voices = true;
        let harder = World::build_with_nlu(harder, data, nlu.clone());
        assert!(harder.goals.len() > world.goals.len());
    }

    #[test]
    fn broken_labels_are_recognised() {
        assert!(well_formed_label("iot_hue_lightup", "iot", "hue_lightup"));
        assert!(!well_formed_label("hue_lightup", "iot", "hue_lightup"));
        assert!(!well_formed_label("query", "weather", "query"));
        assert!(!well_formed_label("email_sendemail", "email", "query"));
    }
}
