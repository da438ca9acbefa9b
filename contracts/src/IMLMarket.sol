// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title The ML market dApp's public protocol (source of truth for its ABI).
/// @notice Nothing here is deployed. Each function of `IMLMarketInputs` is one input of the dApp:
/// its payload is `abi.encodeCall(IMLMarketInputs.f, (...))`, sent with `InputBox.addInput` or as
/// the `execLayerData` of an ERC-20 / Ether portal deposit. Each function of `IMLMarketNotices` is
/// one notice of the dApp: its payload is `abi.encodeCall(IMLMarketNotices.f, (...))`.
/// Scores are signed integers in millionths of the metric's unit. CIDs are binary CIDv1 bytes.
/// Ether is the token `address(0)`. See docs/PROTOCOL.md for who may send what.

/// @notice What a sponsor asks for. Unused fields of a policy must be zero / empty.
struct JobSpec {
    string title;            // free text, at most 200 bytes
    string policy;           // "threshold" | "manual" | "best" | "rounds"
    string task;             // "classification" | "regression"
    string label;            // the label column of the CSV datasets
    string metric;           // accuracy | balanced_accuracy | f1 | roc_auc | log_loss | r2 | mae | rmse
    bytes validationCid;     // validation CSV, stored in the content store
    bytes baseModelCid;      // optional starting model (spec or trained), empty if none
    int64 minScore;          // millionths; for loss metrics (log_loss, mae, rmse): the maximum loss
    int64 minGain;           // millionths; threshold: improvement over the current best required
    uint256 rewardPerAccept; // threshold / manual: per accepted submission; rounds: per accepted update
    uint64 deadline;         // unix seconds: submissions close (rounds: the whole job ends)
    bool acceptByDefault;    // manual: what unreviewed submissions become at the deadline
    bytes32 testCommitment;  // best: keccak256(abi.encode(bytes testCid, bytes32 salt)), or zero
    uint64 revealWindow;     // best with a commitment: seconds after the deadline to reveal
    uint32 rounds;           // rounds: number of rounds
    uint32 roundQuota;       // rounds: accepted updates that close a round early (0: deadline only)
    uint64 roundDuration;    // rounds: seconds per round
    int64 tolerance;         // rounds: an update is accepted if score >= global score - tolerance
    uint256 stake;           // per submission, in the job's token; 0 = no stake
    uint32 maxSubmissions;   // per contributor; 0 = the machine's limit
    bool gated;              // contributors need access granted by the sponsor or a delegate
    string aggregation;      // rounds: "fedavg" (or empty) | "median" | "trimmed_mean"
    string reward;           // how the budget is shared: "" (the policy's own rule) | rounds: "loo" | "shapley";
                             // best: "top_k" (PROTOCOL.md §4.7)
    uint32 topK;             // best with reward "top_k": how many of the best are paid
    uint32 permutations;     // rounds with reward "shapley": Monte-Carlo permutations per round
    uint64 clipNorm;         // rounds: millionths; an update's L2 distance from the global model is at most this
                             // (0: the default bound); what a differentially private update is clipped to
    bool payoutVouchers;     // rewards and returned stakes leave by voucher at once (default: they are credited
                             // to the contributor's dApp balance, taken out with one `withdraw` when they want)
}

interface IMLMarketInputs {
    /// Escrows `budget` of `token` from the sender's balance into a new job.
    function createJob(address token, uint256 budget, JobSpec calldata spec) external;
    /// Adds `amount` from the sender's balance to the job's budget (anyone may fund a job).
    function topUpJob(uint256 jobId, uint256 amount) external;
    /// Sponsor only: ends the job; the remaining budget is refunded by voucher.
    function cancelJob(uint256 jobId) external;
    /// Anyone: applies what is due after a deadline (settlement, reveal timeout, round closing).
    function settleJob(uint256 jobId) external;
    /// Contributor: commits to a submission before its content is public, where
    /// commitment = keccak256(abi.encode(address sender, uint256 jobId, bytes modelCid, bytes dataCid,
    /// bytes32 salt)). The submission's place (its id, so its order and ties) is fixed here.
    function commitSubmission(uint256 jobId, bytes32 commitment) external;
    /// Contributor: reveals a committed submission once its content is uploaded: a model (spec or
    /// trained) and optional training data (empty bytes: none).
    function revealSubmission(uint256 jobId, bytes calldata modelCid, bytes calldata dataCid, bytes32 salt)
        external;
    /// Contributor: `revealSubmission` carrying small contents itself (`model`, `data`: the bytes of
    /// `modelCid` / `dataCid`, or empty when already stored; at most 8 KiB together), so a small model
    /// spec needs no upload of its own.
    function revealSubmissionInline(
        uint256 jobId,
        bytes calldata modelCid,
        bytes calldata dataCid,
        bytes32 salt,
        bytes calldata model,
        bytes calldata data
    ) external;
    /// Sponsor or delegate, manual jobs: accept or reject a scored submission.
    function reviewSubmission(uint256 jobId, uint256 submissionId, bool accept) external;
    /// Sponsor, best jobs with a commitment: reveals the hidden test set after the deadline.
    function revealTestSet(uint256 jobId, bytes calldata testCid, bytes32 salt) external;
    /// Anyone, gated jobs: asks for access, optionally publishing a public key.
    function requestAccess(uint256 jobId, bytes calldata publicKey) external;
    /// Sponsor or delegate: grants or revokes a contributor's access to a gated job.
    function setAccess(uint256 jobId, address account, bool granted) external;
    /// Sponsor only: appoints or removes a delegate who may review and manage access.
    function setDelegate(uint256 jobId, address account, bool enabled) external;
    /// Moves `amount` of `token` from the sender's balance to their wallet by voucher.
    function withdraw(address token, uint256 amount) external;
    /// The sender's choice for the rewards and returned stakes they receive: by voucher at once
    /// (`enabled`), or credited to their dApp balance (the default).
    function setPayoutVouchers(bool enabled) external;
    /// One chunk of a file: original bytes [offset, offset + n) of a file of `size` bytes whose
    /// CID is `cid`; `data` is those bytes, raw or zlib-deflated (`deflated`).
    function uploadChunk(bytes calldata cid, uint64 size, uint64 offset, bool deflated, bytes calldata data)
        external;
    /// One chunk of a file, as `uploadChunk`, with `data` in the chunk codec `codec`: 0 stored (raw),
    /// 1 zlib, 2 bz2, 3 lzma (raw LZMA2 with the protocol's fixed filter chain); PROTOCOL.md §6.
    function uploadChunkCoded(bytes calldata cid, uint64 size, uint64 offset, uint8 codec, bytes calldata data)
        external;
    /// Drops the sender's partial upload of `cid`.
    function abortUpload(bytes calldata cid) external;
}

interface IMLMarketNotices {
    function Deposited(address token, address account, uint256 amount) external;
    function Withdrawn(address token, address account, uint256 amount) external;
    function ContentStored(bytes calldata cid, uint64 size, address uploader) external;
    function JobCreated(uint256 jobId, address sponsor, address token, uint256 budget, JobSpec calldata spec)
        external;
    function JobFunded(uint256 jobId, address from, uint256 amount, uint256 budget) external;
    function JobCancelled(uint256 jobId, uint256 refund) external;
    /// outcome: "paid" | "refunded" | "split" | "expired"
    function JobSettled(uint256 jobId, string calldata outcome, uint256 paid, uint256 refund) external;
    function SubmissionReceived(
        uint256 jobId,
        uint256 submissionId,
        address contributor,
        bytes calldata modelCid,
        bytes calldata dataCid,
        uint256 stake
    ) external;
    function SubmissionCommitted(uint256 jobId, uint256 submissionId, address contributor, bytes32 commitment)
        external;
    function SubmissionScored(
        uint256 jobId,
        uint256 submissionId,
        address contributor,
        bytes calldata modelCid,
        bytes calldata dataCid,
        int64 score,
        bool accepted
    ) external;
    function SubmissionReviewed(uint256 jobId, uint256 submissionId, bool accepted) external;
    function RewardPaid(uint256 jobId, uint256 submissionId, address contributor, address token, uint256 amount)
        external;
    function StakeReturned(uint256 jobId, uint256 submissionId, address contributor, uint256 amount) external;
    function StakeSlashed(uint256 jobId, uint256 submissionId, address contributor, uint256 amount) external;
    function ModelPublished(uint256 jobId, uint32 round, bytes calldata modelCid, int64 score) external;
    function TestSetRevealed(uint256 jobId, bytes calldata testCid) external;
    function RoundClosed(uint256 jobId, uint32 round, uint32 updates, bytes calldata modelCid, int64 score)
        external;
    function ContributionMeasured(
        uint256 jobId,
        uint256 submissionId,
        uint32 round,
        string calldata rule,
        int64 score,
        int64 baseline,
        int64 contribution,
        uint256 amount
    ) external;
    function PrivacyDeclared(uint256 jobId, uint256 submissionId, uint64 epsilon, uint64 delta, uint64 norm)
        external;
    function AccessRequested(uint256 jobId, address account, bytes calldata publicKey) external;
    function AccessChanged(uint256 jobId, address account, bool granted) external;
    function DelegateChanged(uint256 jobId, address account, bool enabled) external;
}

/// @notice What vouchers call (v2 Ether vouchers carry `value` and an empty payload instead).
interface IMLMarketVoucherTargets {
    /// ERC-20 payments: destination is the token.
    function transfer(address to, uint256 amount) external returns (bool);
    /// Rollups v1 Ether payments: destination is the dApp contract itself.
    function withdrawEther(address receiver, uint256 value) external;
}
