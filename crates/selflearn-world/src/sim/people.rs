//! Who lives in the world: the goals people can pursue, the people of each household, their
//! routines and the devices they speak to, and how a device and a person look in a turn event.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use selflearn_types::{Device, DeviceKind};

use super::World;

/// A request people can make: one frame and its hearable paraphrases.
#[derive(Debug, Clone)]
pub(super) struct Goal {
    pub(super) frame_id: String,
    pub(super) intent: String,
    pub(super) slots: Vec<(String, String)>,
    /// (SLURP sentence id, text) of every paraphrase with a real or synthetic recording.
    pub(super) paraphrases: Vec<(u64, String)>,
}

#[derive(Debug, Clone)]
pub(super) struct DeviceSpec {
    pub(super) id: String,
    pub(super) kind: DeviceKind,
    pub(super) has_screen: bool,
    pub(super) area: String,
    /// Whether media is playing on it (set by a successful `play_*` request, cleared by a stop).
    pub(super) playing: bool,
    /// Whether the lights of its area are on (absent where the area has none); filled in when
    /// the device is looked at, from the household's lights.
    pub(super) lights: Option<bool>,
}

#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) user_id: String,
    /// Goals they pursue often: the ones about their own town and music, then popular ones.
    pub(super) favourites: Vec<usize>,
    /// Favourite goals they pursue at about the same time most days.
    pub(super) routines: Vec<Routine>,
    pub(super) home_device: usize,
    /// Their town (a personal entity; also the event's `location` context).
    pub(super) location: String,
}

/// A goal someone pursues at about the same time of day, most days.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routine {
    pub(super) goal: usize,
    pub(super) minute_of_day: u32,
}

#[derive(Debug, Clone)]
pub(super) struct Household {
    pub(super) people: Vec<Person>,
    pub(super) devices: Vec<DeviceSpec>,
    /// Whether the lights of each area (lower-case name) are on; requests switch them.
    pub(super) lights: BTreeMap<String, bool>,
}

/// One person of the world, by where they live: the index of their household and their index
/// in it. Their random draws are seeded by these two numbers, so both travel together.
#[derive(Debug, Clone, Copy)]
pub(super) struct Who {
    pub(super) household: usize,
    pub(super) person: usize,
}

impl World {
    pub(super) fn person(&self, who: Who) -> &Person {
        &self.households[who.household].people[who.person]
    }

    /// The device a person speaks to: mostly their own, sometimes another in the home.
    pub(super) fn device_for(&self, who: Who, rng: &mut StdRng) -> (usize, DeviceSpec) {
        let household = &self.households[who.household];
        let index = if rng.random_bool(0.8) {
            household.people[who.person].home_device
        } else {
            rng.random_range(0..household.devices.len())
        };
        (index, self.device_view(who.household, index))
    }

    /// A device as it is now, with the state of the lights around it.
    pub(super) fn device_view(&self, household: usize, index: usize) -> DeviceSpec {
        let household = &self.households[household];
        let mut device = household.devices[index].clone();
        device.lights = household.lights.get(&device.area).copied();
        device
    }
}

pub(super) fn device_of(device: &DeviceSpec) -> Device {
    let mut state = BTreeMap::from([
        ("area".to_owned(), device.area.clone()),
        (
            "media".to_owned(),
            if device.playing { "playing" } else { "idle" }.to_owned(),
        ),
    ]);
    if let Some(on) = device.lights {
        state.insert(
            "lights".to_owned(),
            if on { "on" } else { "off" }.to_owned(),
        );
    }
    Device {
        id: device.id.clone(),
        kind: device.kind,
        has_screen: device.has_screen,
        state,
    }
}

pub(super) fn context_of(person: &Person) -> BTreeMap<String, String> {
    BTreeMap::from([("location".to_owned(), person.location.clone())])
}
