"""Bias probes of Radford et al. 2021, section 7, each returning a ``ProbeResult`` (rates by group with intervals).

- Loaders: ``load_fairface`` (FairFace label files), ``load_celeba`` (CelebA identity files),
  ``load_surveillance`` (the surveillance caption file), ``load_schema``, ``load_label_set``.
- Probes: ``run_fairface_probe``, ``run_denigration_probe``, ``run_class_design_probe``,
  ``run_labels_probe``, ``run_surveillance_probe``, ``run_identity_probe``.
- Results: ``ProbeResult``, ``DisaggregatedRate``, ``write_probe_result`` (rates.csv, summary.json,
  provenance.json); models: ``load_probe_model``.
- Built-in data: ``audit.probes.demo_fixture.build_probe_fixture`` and ``train_planted_bias_model``.
"""
from audit.probes.celeba_data import CelebASplit, load_celeba
from audit.probes.class_design_probe import ClassDesignConfig, run_class_design_probe
from audit.probes.denigration_probe import DenigrationConfig, run_denigration_probe
from audit.probes.disaggregated import DisaggregatedRate, GroupRate, disaggregate
from audit.probes.fairface_data import FairFaceSplit, load_fairface
from audit.probes.fairface_probe import FairFaceProbeConfig, run_fairface_probe
from audit.probes.identity_probe import IdentityConfig, run_identity_probe
from audit.probes.label_sets import LabelSet, default_label_set, load_label_set, with_child
from audit.probes.labels_probe import LabelsProbeConfig, run_labels_probe
from audit.probes.provenance import ProbeModel, load_probe_model
from audit.probes.result import ProbeResult, write_probe_result
from audit.probes.schema import FAIRFACE_SCHEMA, CategorySchema, load_schema
from audit.probes.surveillance_data import SurveillanceSet, load_surveillance
from audit.probes.surveillance_probe import SurveillanceConfig, run_surveillance_probe

__all__ = [
    "CategorySchema", "CelebASplit", "ClassDesignConfig", "DenigrationConfig", "DisaggregatedRate", "FAIRFACE_SCHEMA",
    "FairFaceProbeConfig", "FairFaceSplit", "GroupRate", "IdentityConfig", "LabelSet", "LabelsProbeConfig",
    "ProbeModel", "ProbeResult", "SurveillanceConfig", "SurveillanceSet", "default_label_set", "disaggregate",
    "load_celeba", "load_fairface", "load_label_set", "load_probe_model", "load_schema", "load_surveillance",
    "run_class_design_probe", "run_denigration_probe", "run_fairface_probe", "run_identity_probe",
    "run_labels_probe", "run_surveillance_probe", "with_child", "write_probe_result",
]
