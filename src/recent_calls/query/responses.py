"""What queries answer with: pages of calls, stats and facets, as pydantic models.

The OpenAPI document and the clients read these; storage and the compilers build them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from recent_calls.query.breakdowns import Breakdown


class CallData(BaseModel):
    """One call, with the reference's keys and JSON types (numbers as strings, as it has them)."""

    callDuration: str = Field(examples=["335566"], description="Call duration, integer ms.")
    queueId: str = Field(examples=["2583"], description="Queue ids joined with ','.")
    agentCallHandlingDuration: str = Field(examples=["310887.0"])
    callDate: str = Field(examples=["01/13/2022 07:42:31"], description="MM/DD/YYYY HH:MM:SS.")
    agentId: str = Field(description="Agent ids joined with ','.")
    muteDuration: int = Field(examples=[10462], description="Mute time, integer ms.")
    scheduleHours: str = Field(examples=["Open"])
    timeInIVR: str = Field(examples=["19657.0"])
    agentGroup: str = Field(description="Agent group ids joined with ','.")
    transferCount: str = Field(examples=["0.0"])
    postCallSurvey: str = Field(examples=["[]"], description="A JSON array, as a string.")
    callType: str = Field(examples=["Inbound"])
    callerName: str
    dialedNumber: str
    callDateOnly: str = Field(examples=["01/13/2022"])
    hungupBy: str
    holdDuration: str
    voiceComment: str = Field(examples=["{}"], description="A JSON object, as a string.")
    callId: str
    abandonTime: str
    callerNumber: str
    callSubType: str
    totalScore: str
    transactionId: str = Field(description="Transaction ids joined with a space.")
    destinationNumber: str
    voiceCommentFileNames: str
    tenantId: str
    maximumHoldDuration: str
    waitTime: str
    callTime: str = Field(examples=["07:42:31"])
    callerPhoneNumber: str


class RecentCallsResponse(BaseModel):
    """One page of matching calls and the exact number of matches."""

    hits: int
    alertBellCount: int = 0
    sortColumn: str | None
    data: list[CallData]
    autoRefresh: None = None
    columns: list[str]
    timezone: str
    sortOrder: str | None
    page: int
    rows: int


class StatsBucket(BaseModel):
    """One local hour or day: [start, end) in epoch ms, and the matching calls in it."""

    start: int = Field(description="First instant of the bucket, epoch ms.")
    end: int = Field(description="First instant after the bucket, epoch ms.")
    label: str = Field(
        examples=["2024-03-10T03:00:00-04:00"],
        description="The bucket's start, ISO-8601 local time with its UTC offset.",
    )
    calls: int
    answered: int = Field(description="Calls an agent handled (handling time above 0).")
    avgHandleTime: float | None = Field(
        description="Mean agent handling time (ms) of calls an agent handled; null if none."
    )
    avgWaitTime: float | None = Field(description="Mean wait time (ms) of all calls; null if none.")
    abandoned: int = Field(description="Calls with an abandon time above 0.")
    transfers: int = Field(description="Sum of the calls' transfer counts.")


class StatsTotals(BaseModel):
    """The same figures over the whole window."""

    calls: int
    answered: int
    avgHandleTime: float | None
    avgWaitTime: float | None
    abandoned: int
    abandonRate: float | None = Field(description="abandoned / calls, 0..1; null if no calls.")
    transfers: int


class StatsResponse(BaseModel):
    """Matching calls bucketed by local hour or day over the request's whole window."""

    tenantId: str
    interval: str = Field(examples=["hour"])
    timezone: str
    start: int | None = Field(description="Start of the first bucket, epoch ms; null if none.")
    end: int | None = Field(description="End of the last bucket, epoch ms; null if none.")
    buckets: list[StatsBucket]
    totals: StatsTotals
    breakdown: Breakdown | None = Field(
        None, description="The calls by queue, agent, group or channel; null without groupBy."
    )


class FacetsRequest(BaseModel):
    tenantId: str = Field(min_length=1)


class FacetsResponse(BaseModel):
    """Distinct values the tenant's calls hold, sorted, at most 1000 of each."""

    tenantId: str
    agents: list[str]
    queues: list[str]
    groups: list[str]
    channels: list[str]
    timezone: str | None = Field(
        None, description="The tenant's IANA zone, in which the console shows times by default"
    )
