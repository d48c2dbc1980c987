//! Re-export cascaded biquad filter from sonora-common-audio.

pub(crate) use sonora_common_audio::cascaded_biquad_filter::{
    BiQuadCoefficients, CascadedBiQuadFilter,
};
