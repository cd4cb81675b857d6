// Generated from codex 0.169.0 by scripts/generate.mjs. Do not edit.
// The protocol types of the pinned codex app-server, flattened (codex generates its v2
// types under ./types/v2), plus method maps derived from the schema unions
// ClientRequest / ServerNotification / ServerRequest / ClientNotification.
// Every client request has a result type (see protocol/README.md for how they are derived).
// In codex's TS ClientRequest union but not in its JSON schema (not mapped): getConversationSummary, gitDiffToRemote, getAuthStatus.
// ServerNotificationMap also has rawResponseItem/completed, rawResponse/completed, which only codex's TS union lists.

export * from './types/index.js';
export * from './types/v2/index.js';
// Defined both at the root of codex's tree and in v2/; the v2 (app-server protocol v2) one wins.
// The root definitions stay reachable through the files under ./types/.
export type { ExecPolicyAmendment, NetworkPolicyAmendment, NetworkPolicyRuleAction, SessionSource, WebSearchAction } from './types/v2/index.js';
export * as Experimental from './experimental.js';

import type {
  ApplyPatchApprovalParams,
  ApplyPatchApprovalResponse,
  ExecCommandApprovalParams,
  ExecCommandApprovalResponse,
  FuzzyFileSearchParams,
  FuzzyFileSearchResponse,
  FuzzyFileSearchSessionCompletedNotification,
  FuzzyFileSearchSessionUpdatedNotification,
  InitializeParams,
  InitializeResponse,
} from './types/index.js';
import type {
  AccountLoginCompletedNotification,
  AccountRateLimitsUpdatedNotification,
  AccountUpdatedNotification,
  AgentMessageDeltaNotification,
  AppListUpdatedNotification,
  AppsInstalledParams,
  AppsInstalledResponse,
  AppsListParams,
  AppsListResponse,
  AppsReadParams,
  AppsReadResponse,
  AttestationGenerateParams,
  AttestationGenerateResponse,
  AuthRecoveryNotification,
  CancelLoginAccountParams,
  CancelLoginAccountResponse,
  ChatgptAuthTokensRefreshParams,
  ChatgptAuthTokensRefreshResponse,
  CommandExecOutputDeltaNotification,
  CommandExecParams,
  CommandExecResizeParams,
  CommandExecResizeResponse,
  CommandExecResponse,
  CommandExecTerminateParams,
  CommandExecTerminateResponse,
  CommandExecWriteParams,
  CommandExecWriteResponse,
  CommandExecutionOutputDeltaNotification,
  CommandExecutionRequestApprovalParams,
  CommandExecutionRequestApprovalResponse,
  ConfigBatchWriteParams,
  ConfigReadParams,
  ConfigReadResponse,
  ConfigRequirementsReadResponse,
  ConfigValueWriteParams,
  ConfigWarningNotification,
  ConfigWriteResponse,
  ConsumeAccountRateLimitResetCreditParams,
  ConsumeAccountRateLimitResetCreditResponse,
  ContextCompactedNotification,
  DeprecationNoticeNotification,
  DynamicToolCallParams,
  DynamicToolCallResponse,
  EnvironmentConnectionNotification,
  ErrorNotification,
  ExperimentalFeatureEnablementSetParams,
  ExperimentalFeatureEnablementSetResponse,
  ExperimentalFeatureListParams,
  ExperimentalFeatureListResponse,
  ExternalAgentConfigDetectParams,
  ExternalAgentConfigDetectResponse,
  ExternalAgentConfigImportCompletedNotification,
  ExternalAgentConfigImportHistoriesReadResponse,
  ExternalAgentConfigImportHistoryRecordParams,
  ExternalAgentConfigImportHistoryRecordResponse,
  ExternalAgentConfigImportParams,
  ExternalAgentConfigImportProgressNotification,
  ExternalAgentConfigImportResponse,
  FeedbackSaveParams,
  FeedbackSaveResponse,
  FeedbackUploadParams,
  FeedbackUploadResponse,
  FileChangeOutputDeltaNotification,
  FileChangePatchUpdatedNotification,
  FileChangeRequestApprovalParams,
  FileChangeRequestApprovalResponse,
  FsChangedNotification,
  FsCopyParams,
  FsCopyResponse,
  FsCreateDirectoryParams,
  FsCreateDirectoryResponse,
  FsGetMetadataParams,
  FsGetMetadataResponse,
  FsReadDirectoryParams,
  FsReadDirectoryResponse,
  FsReadFileParams,
  FsReadFileResponse,
  FsRemoveParams,
  FsRemoveResponse,
  FsUnwatchParams,
  FsUnwatchResponse,
  FsWatchParams,
  FsWatchResponse,
  FsWriteFileParams,
  FsWriteFileResponse,
  GatewayOAuthCancelResponse,
  GatewayOAuthChangedNotification,
  GatewayOAuthLoginParams,
  GatewayOAuthLoginResponse,
  GatewayOAuthReadParams,
  GatewayOAuthReadResponse,
  GetAccountParams,
  GetAccountRateLimitsParams,
  GetAccountRateLimitsResponse,
  GetAccountResponse,
  GetAccountSecuritySetupResponse,
  GetAccountTokenUsageParams,
  GetAccountTokenUsageResponse,
  GetWorkspaceMessagesResponse,
  GuardianWarningNotification,
  HookCompletedNotification,
  HookStartedNotification,
  HooksListParams,
  HooksListResponse,
  ItemCompletedNotification,
  ItemGuardianApprovalReviewCompletedNotification,
  ItemGuardianApprovalReviewStartedNotification,
  ItemStartedNotification,
  ListMcpServerStatusParams,
  ListMcpServerStatusResponse,
  LoginAccountParams,
  LoginAccountResponse,
  LogoutAccountResponse,
  MarketplaceAddParams,
  MarketplaceAddResponse,
  MarketplaceRemoveParams,
  MarketplaceRemoveResponse,
  MarketplaceUpgradeParams,
  MarketplaceUpgradeResponse,
  McpResourceReadParams,
  McpResourceReadResponse,
  McpServerElicitationRequestParams,
  McpServerElicitationRequestResponse,
  McpServerEventStreamNotification,
  McpServerOauthLoginCompletedNotification,
  McpServerOauthLoginParams,
  McpServerOauthLoginResponse,
  McpServerRefreshResponse,
  McpServerStatusUpdatedNotification,
  McpServerToolCallParams,
  McpServerToolCallResponse,
  McpToolCallProgressNotification,
  ModelListParams,
  ModelListResponse,
  ModelProviderCapabilitiesReadParams,
  ModelProviderCapabilitiesReadResponse,
  ModelProviderConfigWriteParams,
  ModelProviderConfigWriteResponse,
  ModelProviderListParams,
  ModelProviderListResponse,
  ModelReroutedNotification,
  ModelSafetyBufferingUpdatedNotification,
  ModelVerificationNotification,
  PermissionProfileListParams,
  PermissionProfileListResponse,
  PermissionsRequestApprovalParams,
  PermissionsRequestApprovalResponse,
  PlanDeltaNotification,
  PluginInstallParams,
  PluginInstallResponse,
  PluginInstalledParams,
  PluginInstalledResponse,
  PluginListParams,
  PluginListResponse,
  PluginReadParams,
  PluginReadResponse,
  PluginReconcileParams,
  PluginReconcileResponse,
  PluginShareCheckoutParams,
  PluginShareCheckoutResponse,
  PluginShareDeleteParams,
  PluginShareDeleteResponse,
  PluginShareListParams,
  PluginShareListResponse,
  PluginShareSaveParams,
  PluginShareSaveResponse,
  PluginShareUpdateTargetsParams,
  PluginShareUpdateTargetsResponse,
  PluginSkillReadParams,
  PluginSkillReadResponse,
  PluginUninstallParams,
  PluginUninstallResponse,
  ProcessExitedNotification,
  ProcessOutputDeltaNotification,
  ProjectChangedNotification,
  RawResponseCompletedNotification,
  RawResponseItemCompletedNotification,
  ReasoningSummaryPartAddedNotification,
  ReasoningSummaryTextDeltaNotification,
  ReasoningTextDeltaNotification,
  RemoteControlStatusChangedNotification,
  ReviewStartParams,
  ReviewStartResponse,
  SendAddCreditsNudgeEmailParams,
  SendAddCreditsNudgeEmailResponse,
  ServerRequestResolvedNotification,
  SkillsChangedNotification,
  SkillsConfigWriteParams,
  SkillsConfigWriteResponse,
  SkillsExtraRootsSetParams,
  SkillsExtraRootsSetResponse,
  SkillsListParams,
  SkillsListResponse,
  StrictReviewRequiredNotification,
  TerminalInteractionNotification,
  ThreadApproveGuardianDeniedActionParams,
  ThreadApproveGuardianDeniedActionResponse,
  ThreadArchiveParams,
  ThreadArchiveResponse,
  ThreadArchivedNotification,
  ThreadAttachmentAddParams,
  ThreadAttachmentAddResponse,
  ThreadAttachmentListParams,
  ThreadAttachmentListResponse,
  ThreadAttachmentOwnerListParams,
  ThreadAttachmentOwnerListResponse,
  ThreadAttachmentRemoveParams,
  ThreadAttachmentRemoveResponse,
  ThreadAttachmentUpdatedNotification,
  ThreadClosedNotification,
  ThreadCompactStartParams,
  ThreadCompactStartResponse,
  ThreadDeleteParams,
  ThreadDeleteResponse,
  ThreadDeletedNotification,
  ThreadForkParams,
  ThreadForkResponse,
  ThreadGoalClearParams,
  ThreadGoalClearResponse,
  ThreadGoalClearedNotification,
  ThreadGoalGetParams,
  ThreadGoalGetResponse,
  ThreadGoalSetParams,
  ThreadGoalSetResponse,
  ThreadGoalUpdatedNotification,
  ThreadInjectItemsParams,
  ThreadInjectItemsResponse,
  ThreadItemsListParams,
  ThreadItemsListResponse,
  ThreadListParams,
  ThreadListResponse,
  ThreadLoadedListParams,
  ThreadLoadedListResponse,
  ThreadMetadataUpdateParams,
  ThreadMetadataUpdateResponse,
  ThreadNameUpdatedNotification,
  ThreadPredictionUpdatedNotification,
  ThreadProjectUpdatedNotification,
  ThreadQueueChangedNotification,
  ThreadReadParams,
  ThreadReadResponse,
  ThreadReadStateChangedNotification,
  ThreadRealtimeClosedNotification,
  ThreadRealtimeErrorNotification,
  ThreadRealtimeItemAddedNotification,
  ThreadRealtimeItemCompletedNotification,
  ThreadRealtimeItemStartedNotification,
  ThreadRealtimeItemTranscriptDeltaNotification,
  ThreadRealtimeOutputAudioDeltaNotification,
  ThreadRealtimeSdpNotification,
  ThreadRealtimeStartedNotification,
  ThreadRealtimeTranscriptDeltaNotification,
  ThreadRealtimeTranscriptDoneNotification,
  ThreadResumeParams,
  ThreadResumeResponse,
  ThreadRevertParams,
  ThreadRevertResponse,
  ThreadRevertedNotification,
  ThreadSectionChangedNotification,
  ThreadSectionCreateParams,
  ThreadSectionCreateResponse,
  ThreadSectionDeleteParams,
  ThreadSectionDeleteResponse,
  ThreadSectionListParams,
  ThreadSectionListResponse,
  ThreadSectionMoveParams,
  ThreadSectionMoveResponse,
  ThreadSectionUpdateParams,
  ThreadSectionUpdateResponse,
  ThreadSetNameParams,
  ThreadSetNameResponse,
  ThreadSettingsUpdatedNotification,
  ThreadShellCommandParams,
  ThreadShellCommandResponse,
  ThreadStartParams,
  ThreadStartResponse,
  ThreadStartedNotification,
  ThreadStatusChangedNotification,
  ThreadTokenUsageUpdatedNotification,
  ThreadTurnsListParams,
  ThreadTurnsListResponse,
  ThreadUnarchiveParams,
  ThreadUnarchiveResponse,
  ThreadUnarchivedNotification,
  ThreadUnsubscribeParams,
  ThreadUnsubscribeResponse,
  ToolRequestUserInputParams,
  ToolRequestUserInputResponse,
  TurnCompletedNotification,
  TurnDiffUpdatedNotification,
  TurnInterruptParams,
  TurnInterruptResponse,
  TurnModerationMetadataNotification,
  TurnPlanUpdatedNotification,
  TurnStartParams,
  TurnStartResponse,
  TurnStartedNotification,
  TurnSteerParams,
  TurnSteerResponse,
  WarningNotification,
  WindowsSandboxReadinessResponse,
  WindowsSandboxSetupCompletedNotification,
  WindowsSandboxSetupStartParams,
  WindowsSandboxSetupStartResponse,
  WindowsWorldWritableWarningNotification,
} from './types/v2/index.js';
import type * as Exp from './experimental.js';

/** Client -> server requests of the stable API (109). */
export interface ClientRequestMap {
  'initialize': { params: InitializeParams; result: InitializeResponse };
  'thread/start': { params: ThreadStartParams; result: ThreadStartResponse };
  'thread/resume': { params: ThreadResumeParams; result: ThreadResumeResponse };
  'thread/fork': { params: ThreadForkParams; result: ThreadForkResponse };
  'thread/archive': { params: ThreadArchiveParams; result: ThreadArchiveResponse };
  'thread/delete': { params: ThreadDeleteParams; result: ThreadDeleteResponse };
  'thread/unsubscribe': { params: ThreadUnsubscribeParams; result: ThreadUnsubscribeResponse };
  'thread/name/set': { params: ThreadSetNameParams; result: ThreadSetNameResponse };
  'thread/goal/set': { params: ThreadGoalSetParams; result: ThreadGoalSetResponse };
  'thread/goal/get': { params: ThreadGoalGetParams; result: ThreadGoalGetResponse };
  'thread/goal/clear': { params: ThreadGoalClearParams; result: ThreadGoalClearResponse };
  'thread/metadata/update': { params: ThreadMetadataUpdateParams; result: ThreadMetadataUpdateResponse };
  'thread/attachment/add': { params: ThreadAttachmentAddParams; result: ThreadAttachmentAddResponse };
  'thread/attachment/list': { params: ThreadAttachmentListParams; result: ThreadAttachmentListResponse };
  'thread/attachmentOwner/list': { params: ThreadAttachmentOwnerListParams; result: ThreadAttachmentOwnerListResponse };
  'thread/attachment/remove': { params: ThreadAttachmentRemoveParams; result: ThreadAttachmentRemoveResponse };
  'thread/section/move': { params: ThreadSectionMoveParams; result: ThreadSectionMoveResponse };
  'thread/unarchive': { params: ThreadUnarchiveParams; result: ThreadUnarchiveResponse };
  'thread/compact/start': { params: ThreadCompactStartParams; result: ThreadCompactStartResponse };
  'thread/shellCommand': { params: ThreadShellCommandParams; result: ThreadShellCommandResponse };
  'thread/approveGuardianDeniedAction': { params: ThreadApproveGuardianDeniedActionParams; result: ThreadApproveGuardianDeniedActionResponse };
  'thread/revert': { params: ThreadRevertParams; result: ThreadRevertResponse };
  'thread/list': { params: ThreadListParams; result: ThreadListResponse };
  'threadSection/list': { params: ThreadSectionListParams; result: ThreadSectionListResponse };
  'threadSection/create': { params: ThreadSectionCreateParams; result: ThreadSectionCreateResponse };
  'threadSection/update': { params: ThreadSectionUpdateParams; result: ThreadSectionUpdateResponse };
  'threadSection/delete': { params: ThreadSectionDeleteParams; result: ThreadSectionDeleteResponse };
  'thread/loaded/list': { params: ThreadLoadedListParams; result: ThreadLoadedListResponse };
  'thread/read': { params: ThreadReadParams; result: ThreadReadResponse };
  'thread/turns/list': { params: ThreadTurnsListParams; result: ThreadTurnsListResponse };
  'thread/items/list': { params: ThreadItemsListParams; result: ThreadItemsListResponse };
  'thread/inject_items': { params: ThreadInjectItemsParams; result: ThreadInjectItemsResponse };
  'skills/list': { params: SkillsListParams; result: SkillsListResponse };
  'skills/extraRoots/set': { params: SkillsExtraRootsSetParams; result: SkillsExtraRootsSetResponse };
  'hooks/list': { params: HooksListParams; result: HooksListResponse };
  'marketplace/add': { params: MarketplaceAddParams; result: MarketplaceAddResponse };
  'marketplace/remove': { params: MarketplaceRemoveParams; result: MarketplaceRemoveResponse };
  'marketplace/upgrade': { params: MarketplaceUpgradeParams; result: MarketplaceUpgradeResponse };
  'plugin/list': { params: PluginListParams; result: PluginListResponse };
  'plugin/installed': { params: PluginInstalledParams; result: PluginInstalledResponse };
  'plugin/reconcile': { params: PluginReconcileParams; result: PluginReconcileResponse };
  'plugin/read': { params: PluginReadParams; result: PluginReadResponse };
  'plugin/skill/read': { params: PluginSkillReadParams; result: PluginSkillReadResponse };
  'plugin/share/save': { params: PluginShareSaveParams; result: PluginShareSaveResponse };
  'plugin/share/updateTargets': { params: PluginShareUpdateTargetsParams; result: PluginShareUpdateTargetsResponse };
  'plugin/share/list': { params: PluginShareListParams; result: PluginShareListResponse };
  'plugin/share/checkout': { params: PluginShareCheckoutParams; result: PluginShareCheckoutResponse };
  'plugin/share/delete': { params: PluginShareDeleteParams; result: PluginShareDeleteResponse };
  'app/read': { params: AppsReadParams; result: AppsReadResponse };
  'app/list': { params: AppsListParams; result: AppsListResponse };
  'app/installed': { params: AppsInstalledParams; result: AppsInstalledResponse };
  'fs/readFile': { params: FsReadFileParams; result: FsReadFileResponse };
  'fs/writeFile': { params: FsWriteFileParams; result: FsWriteFileResponse };
  'fs/createDirectory': { params: FsCreateDirectoryParams; result: FsCreateDirectoryResponse };
  'fs/getMetadata': { params: FsGetMetadataParams; result: FsGetMetadataResponse };
  'fs/readDirectory': { params: FsReadDirectoryParams; result: FsReadDirectoryResponse };
  'fs/remove': { params: FsRemoveParams; result: FsRemoveResponse };
  'fs/copy': { params: FsCopyParams; result: FsCopyResponse };
  'fs/watch': { params: FsWatchParams; result: FsWatchResponse };
  'fs/unwatch': { params: FsUnwatchParams; result: FsUnwatchResponse };
  'skills/config/write': { params: SkillsConfigWriteParams; result: SkillsConfigWriteResponse };
  'plugin/install': { params: PluginInstallParams; result: PluginInstallResponse };
  'plugin/uninstall': { params: PluginUninstallParams; result: PluginUninstallResponse };
  'turn/start': { params: TurnStartParams; result: TurnStartResponse };
  'turn/steer': { params: TurnSteerParams; result: TurnSteerResponse };
  'turn/interrupt': { params: TurnInterruptParams; result: TurnInterruptResponse };
  'review/start': { params: ReviewStartParams; result: ReviewStartResponse };
  'model/list': { params: ModelListParams; result: ModelListResponse };
  'account/gatewayOAuth/read': { params: GatewayOAuthReadParams | null | undefined; result: GatewayOAuthReadResponse };
  'account/gatewayOAuth/login': { params: GatewayOAuthLoginParams | null | undefined; result: GatewayOAuthLoginResponse };
  'account/gatewayOAuth/cancel': { params: undefined; result: GatewayOAuthCancelResponse };
  'modelProvider/list': { params: ModelProviderListParams; result: ModelProviderListResponse };
  'modelProvider/config/write': { params: ModelProviderConfigWriteParams; result: ModelProviderConfigWriteResponse };
  'modelProvider/capabilities/read': { params: ModelProviderCapabilitiesReadParams; result: ModelProviderCapabilitiesReadResponse };
  'experimentalFeature/list': { params: ExperimentalFeatureListParams; result: ExperimentalFeatureListResponse };
  'permissionProfile/list': { params: PermissionProfileListParams; result: PermissionProfileListResponse };
  'experimentalFeature/enablement/set': { params: ExperimentalFeatureEnablementSetParams; result: ExperimentalFeatureEnablementSetResponse };
  'mcpServer/oauth/login': { params: McpServerOauthLoginParams; result: McpServerOauthLoginResponse };
  'config/mcpServer/reload': { params: undefined; result: McpServerRefreshResponse };
  'mcpServerStatus/list': { params: ListMcpServerStatusParams; result: ListMcpServerStatusResponse };
  'mcpServer/resource/read': { params: McpResourceReadParams; result: McpResourceReadResponse };
  'mcpServer/tool/call': { params: McpServerToolCallParams; result: McpServerToolCallResponse };
  'windowsSandbox/setupStart': { params: WindowsSandboxSetupStartParams; result: WindowsSandboxSetupStartResponse };
  'windowsSandbox/readiness': { params: undefined; result: WindowsSandboxReadinessResponse };
  'account/login/start': { params: LoginAccountParams; result: LoginAccountResponse };
  'account/login/cancel': { params: CancelLoginAccountParams; result: CancelLoginAccountResponse };
  'account/logout': { params: undefined; result: LogoutAccountResponse };
  'account/securitySetup/read': { params: undefined; result: GetAccountSecuritySetupResponse };
  'account/rateLimits/read': { params: GetAccountRateLimitsParams | null | undefined; result: GetAccountRateLimitsResponse };
  'account/rateLimitResetCredit/consume': { params: ConsumeAccountRateLimitResetCreditParams; result: ConsumeAccountRateLimitResetCreditResponse };
  'account/usage/read': { params: GetAccountTokenUsageParams | null | undefined; result: GetAccountTokenUsageResponse };
  'account/workspaceMessages/read': { params: undefined; result: GetWorkspaceMessagesResponse };
  'account/sendAddCreditsNudgeEmail': { params: SendAddCreditsNudgeEmailParams; result: SendAddCreditsNudgeEmailResponse };
  'feedback/upload': { params: FeedbackUploadParams; result: FeedbackUploadResponse };
  'feedback/save': { params: FeedbackSaveParams; result: FeedbackSaveResponse };
  'command/exec': { params: CommandExecParams; result: CommandExecResponse };
  'command/exec/write': { params: CommandExecWriteParams; result: CommandExecWriteResponse };
  'command/exec/terminate': { params: CommandExecTerminateParams; result: CommandExecTerminateResponse };
  'command/exec/resize': { params: CommandExecResizeParams; result: CommandExecResizeResponse };
  'config/read': { params: ConfigReadParams; result: ConfigReadResponse };
  'externalAgentConfig/detect': { params: ExternalAgentConfigDetectParams; result: ExternalAgentConfigDetectResponse };
  'externalAgentConfig/import': { params: ExternalAgentConfigImportParams; result: ExternalAgentConfigImportResponse };
  'externalAgentConfig/import/recordHistory': { params: ExternalAgentConfigImportHistoryRecordParams; result: ExternalAgentConfigImportHistoryRecordResponse };
  'externalAgentConfig/import/readHistories': { params: undefined; result: ExternalAgentConfigImportHistoriesReadResponse };
  'config/value/write': { params: ConfigValueWriteParams; result: ConfigWriteResponse };
  'config/batchWrite': { params: ConfigBatchWriteParams; result: ConfigWriteResponse };
  'configRequirements/read': { params: undefined; result: ConfigRequirementsReadResponse };
  'account/read': { params: GetAccountParams; result: GetAccountResponse };
  'fuzzyFileSearch': { params: FuzzyFileSearchParams; result: FuzzyFileSearchResponse };
}

/** Client -> server requests that exist only with `experimentalApi` (75). Types from the --experimental schema. */
export interface ExperimentalClientRequestMap {
  'server/diagnostics': { params: Exp.ServerDiagnosticsParams; result: Exp.ServerDiagnosticsResponse };
  'userVerification/status': { params: Exp.UserVerificationStatusParams; result: Exp.UserVerificationStatusResponse };
  'userVerification/enroll': { params: Exp.UserVerificationEnrollParams; result: Exp.UserVerificationEnrollResponse };
  'userVerification/delete': { params: Exp.UserVerificationDeleteParams; result: Exp.UserVerificationDeleteResponse };
  'userVerification/verify': { params: Exp.UserVerificationVerifyParams; result: Exp.UserVerificationVerifyResponse };
  'userVerification/cancel': { params: Exp.UserVerificationCancelParams; result: Exp.UserVerificationCancelResponse };
  'thread/sample': { params: Exp.ThreadSampleParams; result: Exp.ThreadSampleResponse };
  'thread/sample/cancel': { params: Exp.ThreadSampleCancelParams; result: Exp.ThreadSampleCancelResponse };
  'thread/increment_elicitation': { params: Exp.ThreadIncrementElicitationParams; result: Exp.ThreadIncrementElicitationResponse };
  'thread/decrement_elicitation': { params: Exp.ThreadDecrementElicitationParams; result: Exp.ThreadDecrementElicitationResponse };
  'thread/prediction/request': { params: Exp.ThreadPredictionRequestParams; result: Exp.ThreadPredictionRequestResponse };
  'thread/queue/add': { params: Exp.ThreadQueueAddParams; result: Exp.ThreadQueueAddResponse };
  'thread/queue/list': { params: Exp.ThreadQueueListParams; result: Exp.ThreadQueueListResponse };
  'thread/queue/update': { params: Exp.ThreadQueueUpdateParams; result: Exp.ThreadQueueUpdateResponse };
  'thread/queue/delete': { params: Exp.ThreadQueueDeleteParams; result: Exp.ThreadQueueDeleteResponse };
  'thread/queue/reorder': { params: Exp.ThreadQueueReorderParams; result: Exp.ThreadQueueReorderResponse };
  'thread/queue/start': { params: Exp.ThreadQueueStartParams; result: Exp.ThreadQueueStartResponse };
  'thread/settings/update': { params: Exp.ThreadSettingsUpdateParams; result: Exp.ThreadSettingsUpdateResponse };
  'thread/memoryMode/set': { params: Exp.ThreadMemoryModeSetParams; result: Exp.ThreadMemoryModeSetResponse };
  'thread/memory/read': { params: Exp.ThreadMemoryReadParams; result: Exp.ThreadMemoryReadResponse };
  'memory/status': { params: Exp.MemoryStatusParams; result: Exp.MemoryStatusResponse };
  'memory/reset': { params: undefined; result: Exp.MemoryResetResponse };
  'rollout/compress': { params: undefined; result: Exp.RolloutCompressResponse };
  'thread/backgroundTerminals/clean': { params: Exp.ThreadBackgroundTerminalsCleanParams; result: Exp.ThreadBackgroundTerminalsCleanResponse };
  'thread/backgroundTerminals/list': { params: Exp.ThreadBackgroundTerminalsListParams; result: Exp.ThreadBackgroundTerminalsListResponse };
  'thread/backgroundTerminals/terminate': { params: Exp.ThreadBackgroundTerminalsTerminateParams; result: Exp.ThreadBackgroundTerminalsTerminateResponse };
  'project/list': { params: Exp.ProjectListParams; result: Exp.ProjectListResponse };
  'project/read': { params: Exp.ProjectReadParams; result: Exp.ProjectReadResponse };
  'project/create': { params: Exp.ProjectCreateParams; result: Exp.ProjectCreateResponse };
  'project/import': { params: Exp.ProjectImportParams; result: Exp.ProjectImportResponse };
  'project/update': { params: Exp.ProjectUpdateParams; result: Exp.ProjectUpdateResponse };
  'project/move': { params: Exp.ProjectMoveParams; result: Exp.ProjectMoveResponse };
  'project/delete': { params: Exp.ProjectDeleteParams; result: Exp.ProjectDeleteResponse };
  'thread/search': { params: Exp.ThreadSearchParams; result: Exp.ThreadSearchResponse };
  'thread/searchOccurrences': { params: Exp.ThreadSearchOccurrencesParams; result: Exp.ThreadSearchOccurrencesResponse };
  'thread/readState/update': { params: Exp.ThreadReadStateUpdateParams; result: Exp.ThreadReadStateUpdateResponse };
  'thread/items/read': { params: Exp.ThreadItemsReadParams; result: Exp.ThreadItemsReadResponse };
  'thread/guardianReview': { params: Exp.ThreadGuardianReviewParams; result: Exp.ThreadGuardianReviewResponse };
  'thread/prepareApprovedPlan': { params: Exp.ThreadPrepareApprovedPlanParams; result: Exp.ThreadPrepareApprovedPlanResponse };
  'plugin/search': { params: Exp.PluginSearchParams; result: Exp.PluginSearchResponse };
  'turn/settings/update': { params: Exp.TurnSettingsUpdateParams; result: Exp.TurnSettingsUpdateResponse };
  'thread/realtime/start': { params: Exp.ThreadRealtimeStartParams; result: Exp.ThreadRealtimeStartResponse };
  'thread/realtime/appendAudio': { params: Exp.ThreadRealtimeAppendAudioParams; result: Exp.ThreadRealtimeAppendAudioResponse };
  'thread/realtime/appendText': { params: Exp.ThreadRealtimeAppendTextParams; result: Exp.ThreadRealtimeAppendTextResponse };
  'thread/realtime/appendSpeech': { params: Exp.ThreadRealtimeAppendSpeechParams; result: Exp.ThreadRealtimeAppendSpeechResponse };
  'thread/realtime/stop': { params: Exp.ThreadRealtimeStopParams; result: Exp.ThreadRealtimeStopResponse };
  'thread/timeline/list': { params: Exp.ThreadTimelineListParams; result: Exp.ThreadTimelineListResponse };
  'thread/realtime/listVoices': { params: Exp.ThreadRealtimeListVoicesParams; result: Exp.ThreadRealtimeListVoicesResponse };
  'remoteControl/enable': { params: Exp.RemoteControlEnableParams | null | undefined; result: Exp.RemoteControlEnableResponse };
  'remoteControl/disable': { params: Exp.RemoteControlDisableParams | null | undefined; result: Exp.RemoteControlDisableResponse };
  'remoteControl/status/read': { params: undefined; result: Exp.RemoteControlStatusReadResponse };
  'remoteControl/pairing/start': { params: Exp.RemoteControlPairingStartParams; result: Exp.RemoteControlPairingStartResponse };
  'remoteControl/pairing/status': { params: Exp.RemoteControlPairingStatusParams; result: Exp.RemoteControlPairingStatusResponse };
  'remoteControl/client/list': { params: Exp.RemoteControlClientsListParams; result: Exp.RemoteControlClientsListResponse };
  'remoteControl/client/revoke': { params: Exp.RemoteControlClientsRevokeParams; result: Exp.RemoteControlClientsRevokeResponse };
  'collaborationMode/list': { params: Exp.CollaborationModeListParams; result: Exp.CollaborationModeListResponse };
  'mock/experimentalMethod': { params: Exp.MockExperimentalMethodParams; result: Exp.MockExperimentalMethodResponse };
  'environment/add': { params: Exp.EnvironmentAddParams; result: Exp.EnvironmentAddResponse };
  'environment/info': { params: Exp.EnvironmentInfoParams; result: Exp.EnvironmentInfoResponse };
  'environment/status': { params: Exp.EnvironmentStatusParams; result: Exp.EnvironmentStatusResponse };
  'mcpServer/event/stream/start': { params: Exp.McpServerEventStreamStartParams; result: Exp.McpServerEventStreamStartResponse };
  'mcpServer/event/stream/stop': { params: Exp.McpServerEventStreamStopParams; result: Exp.McpServerEventStreamStopResponse };
  'account/bedrock/discover': { params: Exp.BedrockDiscoverParams; result: Exp.BedrockDiscoverResponse };
  'account/bedrock/setup': { params: Exp.BedrockSetupParams; result: Exp.BedrockSetupResponse };
  'account/gcp/setup': { params: Exp.GcpSetupParams; result: Exp.GcpSetupResponse };
  'account/bedrock/checkGovCloudRequirements': { params: Exp.BedrockCheckGovCloudRequirementsParams; result: Exp.BedrockCheckGovCloudRequirementsResponse };
  'accountSession/list': { params: Exp.AccountSessionsListParams; result: Exp.AccountSessionsResponse };
  'accountSession/switch': { params: Exp.AccountSessionsSwitchParams; result: Exp.AccountSessionsSwitchResponse };
  'process/spawn': { params: Exp.ProcessSpawnParams; result: Exp.ProcessSpawnResponse };
  'process/writeStdin': { params: Exp.ProcessWriteStdinParams; result: Exp.ProcessWriteStdinResponse };
  'process/kill': { params: Exp.ProcessKillParams; result: Exp.ProcessKillResponse };
  'process/resizePty': { params: Exp.ProcessResizePtyParams; result: Exp.ProcessResizePtyResponse };
  'fuzzyFileSearch/sessionStart': { params: Exp.FuzzyFileSearchSessionStartParams; result: Exp.FuzzyFileSearchSessionStartResponse };
  'fuzzyFileSearch/sessionUpdate': { params: Exp.FuzzyFileSearchSessionUpdateParams; result: Exp.FuzzyFileSearchSessionUpdateResponse };
  'fuzzyFileSearch/sessionStop': { params: Exp.FuzzyFileSearchSessionStopParams; result: Exp.FuzzyFileSearchSessionStopResponse };
}

/** Server -> client notifications: method -> params (88). */
export interface ServerNotificationMap {
  'error': ErrorNotification;
  'thread/started': ThreadStartedNotification;
  'thread/status/changed': ThreadStatusChangedNotification;
  'thread/readState/changed': ThreadReadStateChangedNotification;
  'thread/archived': ThreadArchivedNotification;
  'thread/deleted': ThreadDeletedNotification;
  'thread/unarchived': ThreadUnarchivedNotification;
  'thread/closed': ThreadClosedNotification;
  'thread/reverted': ThreadRevertedNotification;
  'skills/changed': SkillsChangedNotification;
  'thread/name/updated': ThreadNameUpdatedNotification;
  'thread/section/changed': ThreadSectionChangedNotification;
  'thread/attachment/updated': ThreadAttachmentUpdatedNotification;
  'thread/goal/updated': ThreadGoalUpdatedNotification;
  'thread/prediction/updated': ThreadPredictionUpdatedNotification;
  'thread/goal/cleared': ThreadGoalClearedNotification;
  'thread/queue/changed': ThreadQueueChangedNotification;
  'project/changed': ProjectChangedNotification;
  'thread/project/updated': ThreadProjectUpdatedNotification;
  'thread/environment/connected': EnvironmentConnectionNotification;
  'thread/environment/disconnected': EnvironmentConnectionNotification;
  'thread/settings/updated': ThreadSettingsUpdatedNotification;
  'thread/tokenUsage/updated': ThreadTokenUsageUpdatedNotification;
  'turn/started': TurnStartedNotification;
  'hook/started': HookStartedNotification;
  'turn/completed': TurnCompletedNotification;
  'hook/completed': HookCompletedNotification;
  'turn/diff/updated': TurnDiffUpdatedNotification;
  'turn/plan/updated': TurnPlanUpdatedNotification;
  'item/started': ItemStartedNotification;
  'item/autoApprovalReview/started': ItemGuardianApprovalReviewStartedNotification;
  'item/autoApprovalReview/completed': ItemGuardianApprovalReviewCompletedNotification;
  'autoApprovalReview/strictReviewRequired': StrictReviewRequiredNotification;
  'item/completed': ItemCompletedNotification;
  'rawResponseItem/completed': RawResponseItemCompletedNotification; // only in codex's TS union, not in the JSON schema
  'rawResponse/completed': RawResponseCompletedNotification; // only in codex's TS union, not in the JSON schema
  'item/agentMessage/delta': AgentMessageDeltaNotification;
  'item/plan/delta': PlanDeltaNotification;
  'command/exec/outputDelta': CommandExecOutputDeltaNotification;
  'process/outputDelta': ProcessOutputDeltaNotification;
  'process/exited': ProcessExitedNotification;
  'item/commandExecution/outputDelta': CommandExecutionOutputDeltaNotification;
  'item/commandExecution/terminalInteraction': TerminalInteractionNotification;
  'item/fileChange/outputDelta': FileChangeOutputDeltaNotification;
  'item/fileChange/patchUpdated': FileChangePatchUpdatedNotification;
  'serverRequest/resolved': ServerRequestResolvedNotification;
  'item/mcpToolCall/progress': McpToolCallProgressNotification;
  'mcpServer/oauthLogin/completed': McpServerOauthLoginCompletedNotification;
  'mcpServer/startupStatus/updated': McpServerStatusUpdatedNotification;
  'mcpServer/event/stream/notification': McpServerEventStreamNotification;
  'account/updated': AccountUpdatedNotification;
  'account/gatewayOAuth/changed': GatewayOAuthChangedNotification;
  'account/rateLimits/updated': AccountRateLimitsUpdatedNotification;
  'app/list/updated': AppListUpdatedNotification;
  'remoteControl/status/changed': RemoteControlStatusChangedNotification;
  'externalAgentConfig/import/progress': ExternalAgentConfigImportProgressNotification;
  'externalAgentConfig/import/completed': ExternalAgentConfigImportCompletedNotification;
  'fs/changed': FsChangedNotification;
  'item/reasoning/summaryTextDelta': ReasoningSummaryTextDeltaNotification;
  'item/reasoning/summaryPartAdded': ReasoningSummaryPartAddedNotification;
  'item/reasoning/textDelta': ReasoningTextDeltaNotification;
  'thread/compacted': ContextCompactedNotification;
  'model/rerouted': ModelReroutedNotification;
  'model/verification': ModelVerificationNotification;
  'modelProvider/authRecoveryStarted': AuthRecoveryNotification;
  'modelProvider/authRecoveryCompleted': AuthRecoveryNotification;
  'turn/moderationMetadata': TurnModerationMetadataNotification;
  'model/safetyBuffering/updated': ModelSafetyBufferingUpdatedNotification;
  'warning': WarningNotification;
  'guardianWarning': GuardianWarningNotification;
  'deprecationNotice': DeprecationNoticeNotification;
  'configWarning': ConfigWarningNotification;
  'fuzzyFileSearch/sessionUpdated': FuzzyFileSearchSessionUpdatedNotification;
  'fuzzyFileSearch/sessionCompleted': FuzzyFileSearchSessionCompletedNotification;
  'thread/realtime/started': ThreadRealtimeStartedNotification;
  'thread/realtime/itemAdded': ThreadRealtimeItemAddedNotification;
  'thread/realtime/item/started': ThreadRealtimeItemStartedNotification;
  'thread/realtime/item/transcript/delta': ThreadRealtimeItemTranscriptDeltaNotification;
  'thread/realtime/item/completed': ThreadRealtimeItemCompletedNotification;
  'thread/realtime/transcript/delta': ThreadRealtimeTranscriptDeltaNotification;
  'thread/realtime/transcript/done': ThreadRealtimeTranscriptDoneNotification;
  'thread/realtime/outputAudio/delta': ThreadRealtimeOutputAudioDeltaNotification;
  'thread/realtime/sdp': ThreadRealtimeSdpNotification;
  'thread/realtime/error': ThreadRealtimeErrorNotification;
  'thread/realtime/closed': ThreadRealtimeClosedNotification;
  'windows/worldWritableWarning': WindowsWorldWritableWarningNotification;
  'windowsSandbox/setupCompleted': WindowsSandboxSetupCompletedNotification;
  'account/login/completed': AccountLoginCompletedNotification;
}

/** Server -> client notifications that exist only with `experimentalApi` (0). */
export interface ExperimentalServerNotificationMap {}

/** Server -> client requests: the client answers each with `response` (10). */
export interface ServerRequestMap {
  'item/commandExecution/requestApproval': { params: CommandExecutionRequestApprovalParams; response: CommandExecutionRequestApprovalResponse };
  'item/fileChange/requestApproval': { params: FileChangeRequestApprovalParams; response: FileChangeRequestApprovalResponse };
  'item/tool/requestUserInput': { params: ToolRequestUserInputParams; response: ToolRequestUserInputResponse };
  'mcpServer/elicitation/request': { params: McpServerElicitationRequestParams; response: McpServerElicitationRequestResponse };
  'item/permissions/requestApproval': { params: PermissionsRequestApprovalParams; response: PermissionsRequestApprovalResponse };
  'item/tool/call': { params: DynamicToolCallParams; response: DynamicToolCallResponse };
  'account/chatgptAuthTokens/refresh': { params: ChatgptAuthTokensRefreshParams; response: ChatgptAuthTokensRefreshResponse };
  'attestation/generate': { params: AttestationGenerateParams; response: AttestationGenerateResponse };
  'applyPatchApproval': { params: ApplyPatchApprovalParams; response: ApplyPatchApprovalResponse };
  'execCommandApproval': { params: ExecCommandApprovalParams; response: ExecCommandApprovalResponse };
}

/** Server -> client requests that exist only with `experimentalApi` (1). */
export interface ExperimentalServerRequestMap {
  'currentTime/read': { params: Exp.CurrentTimeReadParams; response: Exp.CurrentTimeReadResponse };
}

/** Client -> server notifications: method -> params (1). */
export interface ClientNotificationMap {
  'initialized': undefined;
}

/** Client -> server notifications that exist only with `experimentalApi` (0). */
export interface ExperimentalClientNotificationMap {}

export type ClientRequestMethod = keyof ClientRequestMap;
export type ExperimentalClientRequestMethod = keyof ExperimentalClientRequestMap;
export type AnyClientRequestMap = ClientRequestMap & ExperimentalClientRequestMap;
export type AnyClientRequestMethod = keyof AnyClientRequestMap;
export type ServerNotificationMethod = keyof ServerNotificationMap;
export type ExperimentalServerNotificationMethod = keyof ExperimentalServerNotificationMap;
export type ServerRequestMethod = keyof ServerRequestMap;
export type ExperimentalServerRequestMethod = keyof ExperimentalServerRequestMap;
export type AnyServerRequestMap = ServerRequestMap & ExperimentalServerRequestMap;
export type AnyServerRequestMethod = keyof AnyServerRequestMap;
export type ClientNotificationMethod = keyof ClientNotificationMap;

/** Params of a client request (stable or experimental). */
export type ParamsOf<M extends AnyClientRequestMethod> = AnyClientRequestMap[M]['params'];
/** Result of a client request (stable or experimental). */
export type ResultOf<M extends AnyClientRequestMethod> = AnyClientRequestMap[M]['result'];
/** Params of a server notification. */
export type NotificationParamsOf<M extends ServerNotificationMethod> = ServerNotificationMap[M];
/** Params of a server request. */
export type ServerRequestParamsOf<M extends AnyServerRequestMethod> = AnyServerRequestMap[M]['params'];
/** What the client answers to a server request. */
export type ServerResponseOf<M extends AnyServerRequestMethod> = AnyServerRequestMap[M]['response'];

/** A server notification, discriminated on `method`. */
export type ServerNotification = {
  [M in ServerNotificationMethod]: { method: M; params: ServerNotificationMap[M] };
}[ServerNotificationMethod];
