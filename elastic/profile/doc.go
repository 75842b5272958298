// Package profile measures, saves and loads what the elastic planner needs
// to know about a model and a device: it is the "profile" step of the
// elastic flow (convert → store → profile → plan → execute → backend).
//
//   - ProfileImportance measures how much each shard version costs in
//     output quality, on labelled data kept apart from evaluation;
//   - ProfileDevice measures this machine's reads and compute;
//   - ProfileWords counts token frequencies, to choose which word rows to
//     preload;
//   - LoadProfiles gathers them, with the geometry read from the store's
//     manifest, into the planner's input (plan.Profiles).
//
// The profile types themselves belong to package plan, their consumer.
package profile
