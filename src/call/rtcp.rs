//! Keyframe requests reach the application: inbound RTCP normally stops at the interceptors,
//! so this one, last in the chain, marks PLI and FIR packets for delivery. They surface as
//! `OnRtcpPacket` events on the connection's remote tracks, and the mesh makes the next frame
//! of the shared encoders a keyframe. A REMB (the most the receiver takes, which Janus sends
//! its publishers every 5 s with the room's cap) goes to the link's estimate instead, which
//! then caps the encoders' bitrate.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Whether an RTCP packet asks for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// The bitrate a REMB packet gives, bits a second.
pub fn remb_bitrate(packet: &dyn rtc::rtcp::Packet) -> Option<f64> {
    packet
        .as_any()
        .downcast_ref::<ReceiverEstimatedMaximumBitrate>()
        .map(|r| f64::from(r.bitrate))
}

/// Passes everything through; marks inbound PLI and FIR for the application; gives a REMB's
/// bitrate to the link's estimate.
pub struct KeyframeRequestForwarder {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
    estimate: crate::call::estimate::Estimate,
}

impl KeyframeRequestForwarder {
    /// A forwarder whose REMBs cap `estimate`.
    pub fn new(estimate: crate::call::estimate::Estimate) -> KeyframeRequestForwarder {
        KeyframeRequestForwarder {
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
            estimate,
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for bps in packets.iter().filter_map(|p| remb_bitrate(p.as_ref())) {
                self.estimate.set_remb(bps, Instant::now());
            }
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
