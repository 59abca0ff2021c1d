//! How an ensemble's members' answers become one ([`decide`]): a majority vote, a mean, or the
//! first member to answer within a time budget. The idea is the original system's sibling's
//! (flink-speculative-modelServer), on one record at a time inside the serving operator.

use std::sync::Arc;
use std::time::Duration;

use crate::model::Prediction;
use crate::proto::lifecycle::Decider;
use crate::record::MemberAnswer;

/// Whether a member that answered in `duration_ns` ends a first-within ensemble's scoring of a
/// record (the members after it are not asked).
pub fn answered_in_time(decider: Decider, budget: Duration, answer: &MemberAnswer) -> bool {
    decider == Decider::FirstWithin
        && answer.answer.is_ok()
        && u128::from(answer.duration_ns) <= budget.as_nanos()
}

/// The ensemble's answer from its members' (in member order); `labels` are each member's class
/// labels, in the order of its probabilities.
pub fn decide(
    decider: Decider,
    budget: Duration,
    answers: &[MemberAnswer],
    labels: &[Arc<[Arc<str>]>],
) -> Result<Prediction, String> {
    let answered: Vec<(usize, &Prediction)> = answers
        .iter()
        .enumerate()
        .filter_map(|(index, member)| member.answer.as_ref().ok().map(|p| (index, p)))
        .collect();
    if answered.is_empty() {
        return Err(no_answer(answers));
    }
    match decider {
        Decider::Majority => Ok(majority(&answered)),
        Decider::Mean => mean(&answered, labels),
        Decider::FirstWithin => Ok(first_within(budget, answers)),
    }
}

/// Why no member answered.
fn no_answer(answers: &[MemberAnswer]) -> String {
    let reasons: Vec<String> = answers
        .iter()
        .filter_map(|member| {
            let error = member.answer.as_ref().err()?;
            Some(format!("{}: {error}", member.model))
        })
        .collect();
    format!(
        "no member of the ensemble answered ({})",
        reasons.join("; ")
    )
}

/// What a vote counts: the class, or the value (bit for bit) of a regression.
fn ballot(prediction: &Prediction) -> (Option<&str>, u64) {
    match &prediction.class {
        Some(class) => (Some(class), 0),
        None => (None, prediction.value.to_bits()),
    }
}

/// The answer most members gave; among tied answers, the one given by the earliest member.
fn majority(answered: &[(usize, &Prediction)]) -> Prediction {
    let mut best: Option<(usize, &Prediction)> = None;
    for (position, (_, prediction)) in answered.iter().enumerate() {
        let votes = answered
            .iter()
            .filter(|(_, other)| ballot(other) == ballot(prediction))
            .count();
        let earlier_same = answered[..position]
            .iter()
            .any(|(_, other)| ballot(other) == ballot(prediction));
        if !earlier_same && best.is_none_or(|(most, _)| votes > most) {
            best = Some((votes, prediction));
        }
    }
    best.map(|(_, prediction)| prediction.clone())
        .expect("at least one answer")
}

/// The mean value; for classifiers, the class of the mean probabilities (the members must give
/// probabilities over the same labels).
fn mean(
    answered: &[(usize, &Prediction)],
    labels: &[Arc<[Arc<str>]>],
) -> Result<Prediction, String> {
    let count = answered.len() as f64;
    if answered.iter().all(|(_, p)| p.class.is_none()) {
        let sum: f64 = answered.iter().map(|(_, p)| p.value).sum();
        return Ok(Prediction::regression(sum / count));
    }
    let (first, _) = answered[0];
    let same_labels = answered.iter().all(|(index, prediction)| {
        labels[*index] == labels[first]
            && !prediction.probabilities.is_empty()
            && prediction.probabilities.len() == labels[first].len()
    });
    if !same_labels {
        return Err(
            "a mean ensemble of classifiers needs every member's probabilities over the same labels"
                .into(),
        );
    }
    let mut probabilities = vec![0.0; labels[first].len()];
    for (_, prediction) in answered {
        for (sum, probability) in probabilities.iter_mut().zip(&prediction.probabilities) {
            *sum += probability / count;
        }
    }
    let best = (0..probabilities.len())
        .reduce(|best, at| match probabilities[at] > probabilities[best] {
            true => at,
            false => best,
        })
        .expect("labels");
    Ok(Prediction::classification(
        labels[first][best].clone(),
        probabilities,
    ))
}

/// The first member's answer given within the budget; if none was, the quickest answer.
fn first_within(budget: Duration, answers: &[MemberAnswer]) -> Prediction {
    let in_time = answers
        .iter()
        .find(|member| answered_in_time(Decider::FirstWithin, budget, member));
    let quickest = || {
        answers
            .iter()
            .filter(|member| member.answer.is_ok())
            .min_by_key(|member| member.duration_ns)
    };
    let chosen = in_time.or_else(quickest).expect("at least one answer");
    chosen.answer.clone().expect("an answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(model: &str, answer: Result<Prediction, String>, duration_ns: u64) -> MemberAnswer {
        MemberAnswer {
            model: model.into(),
            answer,
            duration_ns,
        }
    }

    fn class(label: &str, probabilities: &[f64]) -> Result<Prediction, String> {
        Ok(Prediction::classification(
            label.into(),
            probabilities.to_vec(),
        ))
    }

    fn labels(count: usize) -> Vec<Arc<[Arc<str>]>> {
        let labels: Arc<[Arc<str>]> = vec!["5".into(), "6".into()].into();
        vec![labels; count]
    }

    #[test]
    fn the_majority_wins_and_ties_go_to_the_earliest_member() {
        let answers = [
            answer("a", class("5", &[]), 1),
            answer("b", class("6", &[]), 1),
            answer("c", class("6", &[]), 1),
        ];
        let vote = decide(Decider::Majority, Duration::ZERO, &answers, &labels(3)).unwrap();
        assert_eq!(vote.class.as_deref(), Some("6"));
        let tie = decide(Decider::Majority, Duration::ZERO, &answers[..2], &labels(2)).unwrap();
        assert_eq!(tie.class.as_deref(), Some("5"));
    }

    #[test]
    fn the_mean_averages_values_or_probabilities() {
        let values = [
            answer("a", Ok(Prediction::regression(1.0)), 1),
            answer("b", Err("broken".into()), 1),
            answer("c", Ok(Prediction::regression(2.0)), 1),
        ];
        let mean = decide(Decider::Mean, Duration::ZERO, &values, &labels(3)).unwrap();
        assert_eq!(mean.value, 1.5);
        let classes = [
            answer("a", class("5", &[0.6, 0.4]), 1),
            answer("b", class("6", &[0.2, 0.8]), 1),
        ];
        let mean = decide(Decider::Mean, Duration::ZERO, &classes, &labels(2)).unwrap();
        assert_eq!(mean.class.as_deref(), Some("6"));
        assert!((mean.probabilities[1] - 0.6).abs() < 1e-12);
    }

    #[test]
    fn the_first_answer_in_time_wins_else_the_quickest() {
        let budget = Duration::from_nanos(100);
        let answers = [
            answer("slow", class("5", &[]), 500),
            answer("fast", class("6", &[]), 50),
        ];
        let first = decide(Decider::FirstWithin, budget, &answers, &labels(2)).unwrap();
        assert_eq!(first.class.as_deref(), Some("6"));
        let late = [
            answer("slow", class("5", &[]), 500),
            answer("slower", class("6", &[]), 900),
        ];
        let quickest = decide(Decider::FirstWithin, budget, &late, &labels(2)).unwrap();
        assert_eq!(quickest.class.as_deref(), Some("5"));
    }

    #[test]
    fn no_answer_names_every_members_error() {
        let answers = [
            answer("a", Err("x".into()), 1),
            answer("b", Err("y".into()), 1),
        ];
        let error = decide(Decider::Majority, Duration::ZERO, &answers, &labels(2)).unwrap_err();
        assert_eq!(error, "no member of the ensemble answered (a: x; b: y)");
    }
}
